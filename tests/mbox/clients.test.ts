/**
 * An mbox spool written by Debian's procmail and formail, served by Debian's tcpserver ->
 * qmail-popup -> checkpassword stand-in -> qmail-pop3d mbox:mbox, to real clients
 * (Python poplib, curl, fetchmail, mpop, getmail6): every message byte-exact, deleted
 * from the spool after, and a second session sees the UIDLs of the first.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { canonical, curlFetch, fetchmailFetch, getmailFetch, mpopFetch, poplibFetch, type Account } from "../integration/clients.ts";
import { freePort } from "../pop3/conversation.ts";
import { formailDeliver, procmailDeliver, pythonMboxMessages } from "./spool_tools.ts";

const FAKE = join(import.meta.dir, "..", "pop3", "fake_checkpassword.py");

/** Messages as handed to procmail, and as a POP3 client must get them (procmail quotes body "From " lines). */
const MESSAGES: { input: string; served: string }[] = [
  { input: "From: a@example.org\nSubject: one\n\nhello\n.leading dot\n..two\n", served: "" },
  { input: "From: b@example.org\nSubject: two\n\n" + "line of body text\n".repeat(3000), served: "" },
  { input: "From: c@example.org\nSubject: three\n\nFrom the start of a line\n\xe9\xe8 8-bit\n", served: "From: c@example.org\nSubject: three\n\n>From the start of a line\n\xe9\xe8 8-bit\n" },
];
for (const m of MESSAGES) if (m.served === "") m.served = m.input;

/** An mbox (From_ lines included) that formail splits and procmail delivers as it is. */
const FORMAIL_MBOX =
  "From d@example.org Thu Jan  4 10:00:00 2024\nFrom: d@example.org\nSubject: four\n\nvia formail\n\n" +
  "From e@example.org Fri Jan  5 11:00:00 2024\nFrom: e@example.org\nSubject: five\nX-UIDL: 5a5a5a5a-qpopper\n\nkept X-UIDL\n\n";
const FORMAIL_SERVED = [
  "From: d@example.org\nSubject: four\n\nvia formail\n",
  "From: e@example.org\nSubject: five\nX-UIDL: 5a5a5a5a-qpopper\n\nkept X-UIDL\n",
];
const ALL_SERVED = [...MESSAGES.map((m) => m.served), ...FORMAIL_SERVED];

let server: ReturnType<typeof Bun.spawn> | undefined;
let home = "";
let spool = "";
let account: Account;

function fillSpool(): void {
  for (const m of MESSAGES) procmailDeliver(spool, m.input, home);
  formailDeliver(spool, FORMAIL_MBOX, home);
}

async function waitListening(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = run(["python3", "-c", `import socket; s=socket.create_connection(("127.0.0.1", ${port}), 2); print(s.recv(100).decode())`]);
    if (r.out.startsWith("+OK")) return;
    if (Date.now() > deadline) throw new Error(`no server on ${port}`);
    await Bun.sleep(50);
  }
}

beforeAll(async () => {
  const tcpserver = requireTool("tcpserver");
  for (const tool of ["python3", "curl", "mpop", "fetchmail", "getmail", "procmail", "formail"]) requireTool(tool);
  home = tempDir("mbox-clients");
  spool = join(home, "mbox");
  const port = await freePort();
  account = { host: "127.0.0.1", port, user: "joe", password: "secret" };
  server = Bun.spawn(
    [tcpserver, "-HR", "-l", "localhost", "127.0.0.1", String(port), applet("qmail-popup"), "mail.example", FAKE, applet("qmail-pop3d"), "mbox:mbox"],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", FAKE_HOME: home }, stdout: "ignore", stderr: "ignore" },
  );
  await waitListening(port);
});

afterAll(() => {
  server?.kill();
});

function sorted(messages: Uint8Array[]): string[] {
  return messages.map(canonical).sort();
}

describe("qmail-pop3d mbox:mbox behind Debian's tcpserver, spool from procmail and formail", () => {
  test("the spool is what Python's mailbox module reads", () => {
    fillSpool();
    expect(pythonMboxMessages(spool)).toEqual(ALL_SERVED);
  });

  test("poplib: byte-exact CRLF messages, X-UIDL reused, same UIDLs in the next session, spool empty after", async () => {
    const first = await poplibFetch(account, home, { delete: false });
    expect(first.messages.map((m) => m.toString("latin1"))).toEqual(ALL_SERVED.map((m) => m.replace(/\n/g, "\r\n")));
    expect(first.uidls[4]).toBe("5a5a5a5a-qpopper");
    expect(new Set(first.uidls).size).toBe(5);
    const second = await poplibFetch(account, home);
    expect(second.uidls).toEqual(first.uidls);
    expect(readFileSync(spool).length).toBe(0);
  });

  test("curl", async () => {
    fillSpool();
    expect(sorted(await curlFetch(account, home))).toEqual(ALL_SERVED.map((m) => canonical(Buffer.from(m, "latin1"))).sort());
    expect(readFileSync(spool).length).toBe(0);
  });

  test("fetchmail", async () => {
    fillSpool();
    expect(sorted(await fetchmailFetch(account, tempDir("mbox-fetchmail")))).toEqual(ALL_SERVED.map((m) => canonical(Buffer.from(m, "latin1"))).sort());
    expect(readFileSync(spool).length).toBe(0);
  });

  test("mpop", async () => {
    fillSpool();
    expect(sorted(await mpopFetch(account, tempDir("mbox-mpop")))).toEqual(ALL_SERVED.map((m) => canonical(Buffer.from(m, "latin1"))).sort());
    expect(readFileSync(spool).length).toBe(0);
  });

  test("getmail6", async () => {
    fillSpool();
    expect(sorted(await getmailFetch(account, tempDir("mbox-getmail")))).toEqual(ALL_SERVED.map((m) => canonical(Buffer.from(m, "latin1"))).sort());
    expect(readFileSync(spool).length).toBe(0);
    expect(existsSync(`${spool}.lock`)).toBe(false);
  });
});

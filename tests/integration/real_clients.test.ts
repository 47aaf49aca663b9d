/**
 * The whole classic chain (serve -> popup -> checkpassword -> pop3d) against real POP3 clients
 * from Debian, behind our serve, behind Debian's tcpserver, and served in one process by
 * serve --inline (as the mail uid, -u/-g, so sessions run in-process): every message
 * downloaded is the one delivered, deletions happen, and a second session sees an empty mailbox.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { startChain, type Service } from "./service.ts";
import { canonical, curlFetch, fetchmailFetch, getmailFetch, mpopFetch, poplibFetch, poplibStat, type Account } from "./clients.ts";

const PASSWORD = "s3cret pass";
const USER = "demo";

/** Messages that exercise what clients get wrong: dots, 8-bit, CRLF, no final newline, size. */
export function corpus(): Buffer[] {
  const big = Array.from({ length: 5000 }, (_, i) => `line ${i} ${"x".repeat(50)}`).join("\n");
  return [
    "From: a@example.org\nTo: demo@example.org\nSubject: plain\n\nHello.\n",
    "Subject: dots\n\n.\n..\n.leading dot\n...\nend\n",
    "Subject: 8bit\n\ncaf\xe9 \xff\xfe bytes \x80\x81\n",
    "Subject: crlf\r\n\r\nalready CRLF\r\nsecond line\r\n",
    "Subject: no final newline\n\nlast line without LF",
    `Subject: big\n\n${big}\n`,
    // (a message of headers only would do too, but fetchmail and getmail6 add the empty line after them)
    "Subject: empty body\n\n",
  ].map((s) => Buffer.from(s, "latin1"));
}

interface Mailbox { home: string; maildir: string; userdb: string; uid: number }

/** A virtual user (the single-UID setup) with a Maildir in a temporary home. */
function makeMailbox(): Mailbox {
  const root = tempDir("clients");
  chmodSync(root, 0o755);
  const home = join(root, "home");
  const uid = process.getuid!() === 0 ? 12345 : process.getuid!();
  const gid = process.getuid!() === 0 ? 12345 : process.getgid!();
  mkdirSync(home);
  const maildir = join(home, "Maildir");
  const made = run([applet("maildirmake"), maildir]);
  expect(made.code).toBe(0);
  const userdb = join(root, "users");
  const added = run([applet("users"), "-f", userdb, "add", USER, String(uid), String(gid), home], { stdin: `${PASSWORD}\n` });
  expect(added.stderr).toBe("");
  expect(added.code).toBe(0);
  return { home, maildir, userdb: `${userdb}.cdb`, uid };
}

function deliverAll(box: Mailbox, messages: Buffer[]): void {
  for (const m of messages) {
    const r = run([applet("deliver"), box.maildir], { stdin: m });
    expect(r.code).toBe(0);
  }
  if (process.getuid!() === 0) chownTree(box.home, box.uid);
}

function chownTree(dir: string, uid: number): void {
  chownSync(dir, uid, uid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path, uid);
    else chownSync(path, uid, uid);
  }
}

const CLIENTS: Record<string, (a: Account, work: string) => Promise<Buffer[]>> = {
  poplib: async (a, work) => (await poplibFetch(a, work)).messages,
  curl: curlFetch,
  fetchmail: fetchmailFetch,
  mpop: mpopFetch,
  getmail6: getmailFetch,
};

const SERVERS = { poppin: "poppin serve", tcpserver: "Debian tcpserver", inline: "poppin serve --inline" } as const;

for (const server of ["poppin", "tcpserver", "inline"] as const) {
  describe(`real clients through ${SERVERS[server]}`, () => {
    let box: Mailbox;
    let service: Service;
    let account: Account;

    beforeAll(async () => {
      for (const tool of ["tcpserver", "curl", "fetchmail", "mpop", "getmail", "python3"]) requireTool(tool);
      box = makeMailbox();
      // --inline as root with -u/-g of the mail uid: sessions are served in serve's own process.
      const asMailUid = server === "inline" && process.getuid!() === 0 ? ["-u", String(box.uid), "-g", String(box.uid)] : [];
      if (asMailUid.length > 0) chownSync(box.userdb, box.uid, box.uid);
      service = await startChain({ server, cwd: box.home, env: { POPPIN_USERDB: box.userdb }, serveArgs: asMailUid });
      account = { host: "127.0.0.1", port: service.port, user: USER, password: PASSWORD };
    });

    afterAll(async () => {
      await service?.stop();
    });

    for (const [name, fetch] of Object.entries(CLIENTS)) {
      test(`${name} downloads every message byte-identical, deletes, and the mailbox is then empty`, async () => {
        const messages = corpus();
        deliverAll(box, messages);
        const work = tempDir(name);
        const got = await fetch(account, work);
        expect(got.map(canonical).sort()).toEqual(messages.map(canonical).sort());
        expect(await poplibStat(account, work)).toEqual([0, 0]);
        expect(readdirSync(join(box.maildir, "cur"))).toEqual([]);
        expect(readdirSync(join(box.maildir, "new"))).toEqual([]);
      });
    }

    test("poplib sees RFC 1939 octet counts and exact CRLF bytes", async () => {
      const messages = corpus();
      deliverAll(box, messages);
      const work = tempDir("octets");
      const { messages: got, uidls } = await poplibFetch(account, work, { delete: true });
      expect(uidls.length).toBe(messages.length);
      for (const m of got) expect(m.includes(Buffer.from("\n")) && !/[^\r]\n/.test(m.toString("latin1"))).toBe(true);
      expect(service.log()).not.toContain(PASSWORD);
    });

    test("a wrong password is refused, logged with the address, never with the password", async () => {
      const work = tempDir("wrong");
      const bad = { ...account, password: "not the password" };
      await expect(poplibStat(bad, work)).rejects.toThrow(/authorization failed/);
      const log = service.log();
      expect(log).toMatch(/authorization failed rip=127\.0\.0\.1 user=demo/);
      expect(log).not.toContain("not the password");
    });
  });
}

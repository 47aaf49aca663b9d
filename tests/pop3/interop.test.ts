/**
 * The real deployment shape, with Debian's tcpserver (ucspi-tcp) on loopback:
 * tcpserver -> qmail-popup -> checkpassword stand-in -> qmail-pop3d, and real
 * clients (Python poplib, curl, mpop, fetchmail, getmail6) comparing the bytes they get with what was delivered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { connectConversation, freePort, makeMaildir } from "./conversation.ts";
import { GETMAIL } from "../integration/clients.ts";

const FAKE = join(import.meta.dir, "fake_checkpassword.py");

const MESSAGES = [
  "From: a@example.org\nSubject: one\n\nhello\n.leading dot\n..two\n",
  "From: b@example.org\nSubject: two\n\n" + "line of body text\n".repeat(2000),
  "From: c@example.org\r\nSubject: three, CRLF\r\n\r\n\xe9\xe8 8-bit\r\n.\r\n",
];

let server: ReturnType<typeof Bun.spawn> | undefined;
let port = 0;
let home = "";

async function waitListening(p: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const { talk, socket } = await connectConversation(p);
      await talk.waitFor("\r\n", 5000);
      socket.destroy();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await Bun.sleep(50);
    }
  }
}

beforeAll(async () => {
  const tcpserver = requireTool("tcpserver");
  requireTool("python3");
  requireTool("curl");
  requireTool("mpop");
  requireTool("fetchmail");
  requireTool("getmail");
  home = tempDir("interop");
  port = await freePort();
  server = Bun.spawn(
    [tcpserver, "-HR", "-l", "localhost", "127.0.0.1", String(port), applet("qmail-popup"), "mail.example", FAKE, applet("qmail-pop3d"), "Maildir"],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", FAKE_HOME: home, POPPIN_AUTH_FAILURE_DELAY: "0.1" }, stdout: "ignore", stderr: "pipe" },
  );
  await waitListening(port);
});

afterAll(() => {
  server?.kill();
});

describe("tcpserver + qmail-popup + checkpassword + qmail-pop3d", () => {
  test("commands pipelined in one packet after PASS reach pop3d over a real socket", async () => {
    makeMaildir(home, [MESSAGES[0]!], 1600000000);
    const { talk, socket } = await connectConversation(port);
    await talk.waitFor("+OK \r\n");
    talk.send("USER joe\r\nPASS secret\r\nSTAT\r\nUIDL\r\nQUIT\r\n");
    const out = await talk.waitEnd();
    socket.destroy();
    const size = MESSAGES[0]!.replace(/\n/g, "\r\n").length;
    expect(out).toBe(`+OK \r\n+OK \r\n+OK \r\n+OK 1 ${size}\r\n+OK \r\n1 1600000000.M100P4000.test.example\r\n.\r\n+OK \r\n`);
  });

  test("a wrong password over the socket: [AUTH], then the right one works in the same connection", async () => {
    const { talk, socket } = await connectConversation(port);
    await talk.waitFor("+OK \r\n");
    talk.send("USER joe\r\nPASS nope\r\n");
    await talk.waitFor("-ERR [AUTH] authorization failed\r\n");
    talk.send("PASS secret\r\nNOOP\r\nQUIT\r\n");
    expect(await talk.waitEnd()).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n+OK \r\n+OK \r\n");
    socket.destroy();
  });

  test("Python poplib downloads every message byte-identical, deletes, and a second session sees none", () => {
    // clear what earlier tests left
    run(["python3", "-c", `
import poplib
p = poplib.POP3("127.0.0.1", ${port}, timeout=20)
p.user("joe"); p.pass_("secret")
for i in range(len(p.list()[1])): p.dele(i + 1)
p.quit()`]);
    const names = makeMaildir(home, MESSAGES, 1700000000);
    const script = `
import poplib, sys, os
p = poplib.POP3("127.0.0.1", ${port}, timeout=20)
p.user("joe"); p.pass_("secret")
count, total = p.stat()
resp, listing, _ = p.list()
resp, uidls, _ = p.uidl()
out = sys.stdout.buffer
out.write(b"%d %d\\n" % (count, total))
out.write(b"|".join(listing) + b"\\n")
out.write(b"|".join(uidls) + b"\\n")
for i in range(count):
    resp, lines, octets = p.retr(i + 1)
    out.write(b"MSG %d %d\\n" % (i + 1, octets))
    out.write(b"\\n".join(lines) + b"\\n")
    p.dele(i + 1)
p.quit()
q = poplib.POP3("127.0.0.1", ${port}, timeout=20)
q.user("joe"); q.pass_("secret")
out.write(b"AFTER %d %d\\n" % q.stat())
q.quit()
`;
    const r = run(["python3", "-c", script], { timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lf = (m: string) => Buffer.from(m.replace(/\r\n/g, "\n"), "latin1");
    const sizes = MESSAGES.map((m) => Buffer.byteLength(m.replace(/\r?\n/g, "\r\n"), "latin1"));
    const expected = Buffer.concat([
      Buffer.from(`${MESSAGES.length} ${sizes.reduce((a, b) => a + b, 0)}\n`),
      Buffer.from(sizes.map((s, i) => `${i + 1} ${s}`).join("|") + "\n"),
      Buffer.from(names.map((n, i) => `${i + 1} ${n}`).join("|") + "\n"),
      ...MESSAGES.map((m, i) => Buffer.concat([Buffer.from(`MSG ${i + 1} `), Buffer.from(`${poplibOctets(m)}\n`), lf(m)])),
      Buffer.from("AFTER 0 0\n"),
    ]);
    expect(Buffer.from(r.stdout).toString("latin1")).toBe(expected.toString("latin1"));
    expect(readdirSync(join(home, "Maildir", "cur"))).toEqual([]);
  });

  test("curl pop3:// lists and retrieves byte-identical (CRLF) messages; plain greeting, so no APOP lock-out", () => {
    const names = makeMaildir(home, MESSAGES.slice(0, 2), 1800000000);
    const base = `pop3://127.0.0.1:${port}`;
    const list = run(["curl", "-sS", "--max-time", "20", "--user", "joe:secret", `${base}/`]);
    expect(list.stderr).toBe("");
    const sizes = MESSAGES.slice(0, 2).map((m) => m.replace(/\n/g, "\r\n").length);
    expect(list.out).toBe(sizes.map((s, i) => `${i + 1} ${s}\r\n`).join(""));
    for (let i = 0; i < 2; i++) {
      const r = run(["curl", "-sS", "--max-time", "20", "--user", "joe:secret", `${base}/${i + 1}`]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(MESSAGES[i]!.replace(/\n/g, "\r\n"));
    }
    const dele = run(["curl", "-sS", "--max-time", "20", "--user", "joe:secret", "-X", "DELE", "-I", `${base}/1`]);
    expect(dele.code).toBe(0);
    expect(readdirSync(join(home, "Maildir", "cur"))).toEqual([`${names[1]}:2,`]);
    const wrong = run(["curl", "-sS", "--max-time", "20", "--user", "joe:wrong", `${base}/`]);
    expect(wrong.code).not.toBe(0);
  });
});

/** poplib's octet count: the bytes of the lines it got (dot-stuffing undone) plus a CRLF per line. */
function poplibOctets(message: string): number {
  const lines = message.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");
  return lines.reduce((a, l) => a + Buffer.byteLength(l, "latin1") + 2, 0);
}

/** Messages as `deliver` stores them (LF line ends), for the clients that store what they fetch with LF. */
const LF_MESSAGES = [
  "From: a@example.org\nSubject: one\n\nhello\n.leading dot\n..two dots\n.\n",
  "From: b@example.org\nSubject: two\n\n" + "a line of body text\n".repeat(3000),
  "From: c@example.org\nSubject: =?iso-8859-1?q?8-bit?=\n\n\xe9t\xe9 \xe0 la plage\n\n\nthree empty lines above\n",
];

/** Empties the Maildir and delivers `messages` afresh. */
function resetMaildir(messages: string[], start: number): string[] {
  rmSync(join(home, "Maildir"), { recursive: true, force: true });
  return makeMaildir(home, messages, start);
}

function mailboxFiles(): string[] {
  return ["new", "cur"].flatMap((sub) => readdirSync(join(home, "Maildir", sub)));
}

/** Files a client stored, read back in latin1, sorted (clients may deliver in any order). */
function stored(dir: string, strip: (m: string) => string = (m) => m): string[] {
  return readdirSync(dir).map((f) => strip(readFileSync(join(dir, f), "latin1"))).sort();
}

const sortedOriginals = () => [...LF_MESSAGES].sort();

describe("real POP3 clients from Debian through tcpserver", () => {
  test("mpop: downloads every message byte-identical, deletes, a second run finds none", () => {
    resetMaildir(LF_MESSAGES, 1710000000);
    const work = tempDir("mpop");
    const out = join(work, "out");
    for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(out, sub), { recursive: true });
    const rc = join(work, "mpoprc");
    writeFileSync(rc, [
      "account default", "host 127.0.0.1", `port ${port}`, "tls off", "auth user", "user joe", "password secret",
      `delivery maildir ${out}`, "received_header off", "keep off", `uidls_file ${join(work, "uidls")}`, "",
    ].join("\n"));
    chmodSync(rc, 0o600);
    const r = run(["mpop", "-C", rc, "-q"], { timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(stored(join(out, "new"))).toEqual(sortedOriginals());
    expect(mailboxFiles()).toEqual([]);
    const again = run(["mpop", "-C", rc], { timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    expect(again.out).toContain("no messages");
  });

  test("fetchmail: downloads every message byte-identical (after its Received header), deletes, a second run finds none", () => {
    resetMaildir(LF_MESSAGES, 1720000000);
    const work = tempDir("fetchmail");
    const rc = join(work, "fetchmailrc");
    writeFileSync(rc, [
      `poll 127.0.0.1 port ${port} proto pop3 auth password no envelope`,
      `  user "joe" password "secret" is root here sslproto "" nokeep`,
      `  mda "/bin/sh -c 'cat > ${work}/msg.$$'"`, "",
    ].join("\n"));
    chmodSync(rc, 0o600);
    const env = { PATH: process.env.PATH, HOME: work };
    const r = run(["fetchmail", "-f", rc, "--nodetach", "--norewrite", "--pidfile", join(work, "pid")], { env, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    // fetchmail puts its own Received: header (a line and its continuations) first
    const noReceived = (m: string) => m.replace(/^Received: [^\n]*\n(?:[ \t][^\n]*\n)*/, "");
    const got = readdirSync(work).filter((f) => f.startsWith("msg."));
    expect(got.length).toBe(LF_MESSAGES.length);
    expect(got.map((f) => noReceived(readFileSync(join(work, f), "latin1"))).sort()).toEqual(sortedOriginals());
    expect(mailboxFiles()).toEqual([]);
    const again = run(["fetchmail", "-f", rc, "--nodetach", "--norewrite", "--pidfile", join(work, "pid")], { env, timeoutMs: 30_000 });
    expect(again.code).toBe(1); // fetchmail's "no mail" status
  });

  test("getmail6: downloads every message byte-identical (after its Return-Path), deletes, a second run finds none", () => {
    resetMaildir(LF_MESSAGES, 1730000000);
    const work = tempDir("getmail");
    const out = join(work, "out");
    for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(out, sub), { recursive: true });
    // getmail refuses to deliver as root: as root, deliver as nobody into a directory nobody owns
    const root = process.getuid?.() === 0;
    if (root) {
      chmodSync(work, 0o755);
      for (const d of [out, ...["new", "cur", "tmp"].map((s) => join(out, s))]) chownSync(d, 65534, 65534);
    }
    const rc = join(work, "getmailrc");
    writeFileSync(rc, [
      "[retriever]", "type = SimplePOP3Retriever", "server = 127.0.0.1", `port = ${port}`, "username = joe", "password = secret",
      "[destination]", "type = Maildir", `path = ${out}/`, ...(root ? ["user = nobody"] : []),
      "[options]", "read_all = true", "delete = true", "delivered_to = false", "received = false", "",
    ].join("\n"));
    const r = run([...GETMAIL, "--getmaildir", work, "--rcfile", rc, "--quiet"], { timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(stored(join(out, "new"), (m) => m.replace(/^Return-Path: <[^>]*>\n/, ""))).toEqual(sortedOriginals());
    expect(mailboxFiles()).toEqual([]);
    const again = run([...GETMAIL, "--getmaildir", work, "--rcfile", rc], { timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    expect(again.out).toContain("0 messages");
  });
});

/**
 * The real deployment shape, with Debian's tcpserver (ucspi-tcp) on loopback:
 * tcpserver -> qmail-popup -> checkpassword stand-in -> qmail-pop3d, and real
 * clients (Python poplib, curl) comparing the bytes they get with what was delivered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { connectConversation, freePort, makeMaildir } from "./conversation.ts";

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
  home = tempDir("interop");
  port = await freePort();
  server = Bun.spawn(
    [tcpserver, "-HR", "-l", "localhost", "127.0.0.1", String(port), applet("qmail-popup"), "mail.example", FAKE, applet("qmail-pop3d"), "Maildir"],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", FAKE_HOME: home }, stdout: "ignore", stderr: "pipe" },
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

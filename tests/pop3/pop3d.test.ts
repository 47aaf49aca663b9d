import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { makeMaildir, spawnConversation } from "./conversation.ts";

const MESSAGES = [
  "Subject: one\n\nhello\n.leading dot\n",
  "Subject: two\r\n\r\nalready crlf\r\n",
  "Subject: three\n\nno final newline",
];
const crlf = (m: string) => m.replace(/\r?\n/g, "\r\n");

function session(home: string, input: string, args: string[] = ["Maildir"], env: Record<string, string> = {}) {
  return run([applet("qmail-pop3d"), ...args], { cwd: home, stdin: input, env: { PATH: process.env.PATH, ...env }, timeoutMs: 15_000 });
}

describe("qmail-pop3d as a process", () => {
  test("a whole session, byte for byte: CRLF sizes, delivery order, exact RETR, UIDL = qmail-pop3d's", () => {
    const home = tempDir("pop3d");
    const names = makeMaildir(home, MESSAGES);
    const r = session(home, "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nTOP 1 0\r\nQUIT\r\n");
    expect(r.code).toBe(0);
    // Listed size = octets with CRLF line ends; the CRLF added after an unterminated last line is not counted (README).
    const sizes = MESSAGES.map((m) => crlf(m).length);
    const expected =
      "+OK \r\n" +
      `+OK 3 ${sizes.reduce((a, b) => a + b, 0)}\r\n` +
      `+OK \r\n${sizes.map((s, i) => `${i + 1} ${s}\r\n`).join("")}.\r\n` +
      `+OK \r\n${names.map((n, i) => `${i + 1} ${n}\r\n`).join("")}.\r\n` +
      `+OK ${sizes[0]} octets\r\nSubject: one\r\n\r\nhello\r\n..leading dot\r\n.\r\n` +
      `+OK ${sizes[1]} octets\r\nSubject: two\r\n\r\nalready crlf\r\n.\r\n` +
      `+OK ${sizes[2]} octets\r\nSubject: three\r\n\r\nno final newline\r\n.\r\n` +
      `+OK ${sizes[0]} octets\r\nSubject: one\r\n\r\n.\r\n` +
      "+OK \r\n";
    expect(r.out).toBe(expected);
    expect(r.stderr).toContain("qmail-pop3d: info: end=quit");
    // moved to cur/ with ":2,"; the UIDL is the name before ':' (qmail-pop3d's printfn)
    expect(readdirSync(join(home, "Maildir", "cur")).sort()).toEqual(names.map((n) => `${n}:2,`).sort());
    // stable: a second session, after flags changed, lists the same UIDLs
    const cur = join(home, "Maildir", "cur");
    for (const n of names) Bun.spawnSync(["mv", join(cur, `${n}:2,`), join(cur, `${n}:2,S`)]);
    expect(session(home, "UIDL\r\nQUIT\r\n").out).toContain(`+OK \r\n${names.map((n, i) => `${i + 1} ${n}\r\n`).join("")}.\r\n`);
  });

  test("--compat=qmail (and POPPIN_COMPAT=qmail): qmail-pop3d's LF file sizes and mtime order", () => {
    const home = tempDir("pop3d");
    const names = makeMaildir(home, ["a\n", "bb\n\n"]);
    // the first delivered file has the newer mtime: qmail orders by mtime
    utimesSync(join(home, "Maildir", "new", names[0]!), 2000000000, 2000000000);
    utimesSync(join(home, "Maildir", "new", names[1]!), 1000000000, 1000000000);
    const viaOption = session(home, "STAT\r\nLIST\r\nUIDL\r\nQUIT\r\n", ["--compat=qmail", "Maildir"]);
    expect(viaOption.out).toBe(`+OK \r\n+OK 2 6\r\n+OK \r\n1 4\r\n2 2\r\n.\r\n+OK \r\n1 ${names[1]}\r\n2 ${names[0]}\r\n.\r\n+OK \r\n`);
    const viaEnv = session(home, "STAT\r\nLIST\r\nUIDL\r\nQUIT\r\n", ["Maildir"], { POPPIN_COMPAT: "qmail" });
    expect(viaEnv.out).toBe(viaOption.out);
    const rfc = session(home, "STAT\r\nLIST\r\nQUIT\r\n");
    expect(rfc.out).toBe(`+OK \r\n+OK 2 9\r\n+OK \r\n1 3\r\n2 6\r\n.\r\n+OK \r\n`);
  });

  test("deletions only at QUIT: a dropped connection deletes nothing", () => {
    const home = tempDir("pop3d");
    const names = makeMaildir(home, MESSAGES);
    const cur = join(home, "Maildir", "cur");
    const dropped = session(home, "DELE 1\r\nDELE 2\r\nDELE 3\r\n");
    expect(dropped.out).toBe("+OK \r\n" + "+OK message 1 deleted\r\n+OK message 2 deleted\r\n+OK message 3 deleted\r\n");
    expect(readdirSync(cur).length).toBe(3);
    expect(dropped.stderr).toContain("end=eof");
    const quit = session(home, "DELE 1\r\nDELE 3\r\nQUIT\r\n");
    expect(quit.out).toEndWith("+OK \r\n");
    expect(readdirSync(cur)).toEqual([`${names[1]}:2,`]);
    expect(session(home, "STAT\r\nQUIT\r\n").out).toBe(`+OK \r\n+OK 1 ${crlf(MESSAGES[1]!).length}\r\n+OK \r\n`);
  });

  test("a message deleted by another session meanwhile: -ERR for that message only", async () => {
    const home = tempDir("pop3d");
    const names = makeMaildir(home, MESSAGES);
    const { talk, proc } = spawnConversation([applet("qmail-pop3d"), "Maildir"], { cwd: home });
    await talk.waitFor("+OK \r\n");
    unlinkSync(join(home, "Maildir", "cur", `${names[0]}:2,`));
    talk.send("RETR 1\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n");
    const out = await talk.waitEnd();
    expect(out).toBe(
      `+OK \r\n-ERR unable to open that message\r\n+OK ${crlf(MESSAGES[1]!).length} octets\r\n${crlf(MESSAGES[1]!)}.\r\n` +
        "+OK message 1 deleted\r\n+OK message 2 deleted\r\n+OK \r\n",
    );
    expect(await proc.exited).toBe(0);
    expect(readdirSync(join(home, "Maildir", "cur"))).toEqual([`${names[2]}:2,`]);
  });

  test("a missing Maildir: a clear -ERR and exit 0 (qmail-pop3d's die(): popup adds no second answer); no argument: usage", () => {
    const home = tempDir("pop3d");
    const r = session(home, "STAT\r\n");
    expect(r.code).toBe(0);
    expect(r.out).toBe("-ERR this user has no $HOME/Maildir\r\n");
    expect(r.stderr).toStartWith("qmail-pop3d: fatal: ");
    const u = session(home, "", []);
    expect(u.code).toBe(0); // qmail-pop3d's die() after its -ERR
    expect(u.stderr).toContain("qmail-pop3d: usage: qmail-pop3d");
    const bad = session(home, "", ["--compat=dovecot", "Maildir"]);
    expect(bad.code).toBe(0);
  });

  test("bad input never crashes: long lines, NUL, binary garbage; too many bad commands close without deleting", () => {
    const home = tempDir("pop3d");
    makeMaildir(home, MESSAGES);
    const garbage = Buffer.concat([
      Buffer.from("DELE 1\r\n" + "A".repeat(5000) + "\r\nLIST\0 1\r\n"),
      Buffer.from([0xff, 0xfe, 0x80, 0x0d, 0x0a]),
      Buffer.from("NOOP\r\n"),
    ]);
    const r = run([applet("qmail-pop3d"), "Maildir"], { cwd: home, stdin: garbage });
    expect(r.code).toBe(0);
    expect(r.out).toBe("+OK \r\n+OK message 1 deleted\r\n-ERR command line too long\r\n-ERR NUL octet in command line\r\n-ERR unimplemented\r\n+OK \r\n");
    const flood = session(home, "DELE 1\r\n" + "BOGUS\r\n".repeat(30) + "QUIT\r\n");
    expect(flood.out.split("-ERR unimplemented").length - 1).toBe(20);
    expect(flood.out).not.toEndWith("+OK \r\n");
    expect(readdirSync(join(home, "Maildir", "cur")).length).toBe(3);
  });

  test("POPPIN_TIMEOUT: an idle client is dropped, nothing deleted", async () => {
    const home = tempDir("pop3d");
    makeMaildir(home, MESSAGES);
    const started = Date.now();
    const { talk, proc, stderr } = spawnConversation([applet("qmail-pop3d"), "Maildir"], { cwd: home, env: { POPPIN_TIMEOUT: "1" } });
    await talk.waitFor("+OK \r\n");
    talk.send("DELE 1\r\n");
    expect(await Promise.race([proc.exited, Bun.sleep(8000).then(() => "hung")])).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(await stderr()).toContain("end=timeout");
    expect(readdirSync(join(home, "Maildir", "cur")).length).toBe(3);
  });

  test("a big message streams through unchanged (5 MB)", () => {
    const home = tempDir("pop3d");
    const line = "0123456789".repeat(7) + "\n";
    const big = "Subject: big\n\n" + line.repeat(75000);
    makeMaildir(home, [big]);
    const r = session(home, "RETR 1\r\nQUIT\r\n");
    const size = crlf(big).length;
    expect(r.out).toBe(`+OK \r\n+OK ${size} octets\r\n${crlf(big)}.\r\n+OK \r\n`);
    expect(statSync(join(home, "Maildir")).isDirectory()).toBe(true);
    rmSync(join(home, "Maildir"), { recursive: true });
    expect(existsSync(join(home, "Maildir"))).toBe(false);
  });
});

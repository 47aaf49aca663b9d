/**
 * A symlink (or anything but a regular file) in a Maildir is not served: a message file
 * that points outside the Maildir must never send the target's bytes, whether its name
 * carries the sizes (,S=,W=: listed without a stat) or not. A FIFO must not hang the session.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";

const SECRET = "TOP-SECRET-outside-the-maildir";

function maildirWith(links: Record<string, string>): { home: string; secret: string } {
  const home = tempDir("symlink");
  const md = join(home, "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  const secret = join(home, "secret.txt");
  writeFileSync(secret, `Subject: stolen\n\n${SECRET}\n`);
  writeFileSync(join(md, "cur", "1700000000.M1P1.host:2,"), "Subject: real\n\nreal message\n");
  for (const [name, target] of Object.entries(links)) symlinkSync(target === "SECRET" ? secret : target, join(md, name));
  return { home, secret };
}

function pop3d(home: string, commands: string): { code: number; out: string; stderr: string } {
  const r = run([applet("qmail-pop3d"), "Maildir"], { cwd: home, stdin: commands, timeoutMs: 10_000 });
  return { code: r.code, out: r.out, stderr: r.stderr };
}

describe("symlinks in a Maildir", () => {
  test("a symlinked message (plain name, and a name with ,S=,W=) never sends the target's bytes", () => {
    const { home } = maildirWith({
      "cur/1700000001.M2P1.host:2,": "SECRET",
      "new/1700000002.M3P1.host,S=40,W=42": "SECRET",
    });
    const r = pop3d(home, "RETR 1\r\nRETR 2\r\nRETR 3\r\nTOP 2 5\r\nTOP 3 5\r\nQUIT\r\n");
    expect(r.code).toBe(0);
    expect(r.out).toContain("real message");
    expect(r.out).not.toContain(SECRET);
  });

  test("a FIFO named like a message does not hang the session", () => {
    const { home } = maildirWith({});
    const fifo = join(home, "Maildir", "cur", "1700000003.M4P1.host,S=10,W=11:2,");
    expect(run(["mkfifo", fifo]).code).toBe(0);
    const started = Date.now();
    const r = pop3d(home, "LIST\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n");
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(r.out).toContain("real message");
    expect(r.out).toEndWith("+OK \r\n");
  });
});

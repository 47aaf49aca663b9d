/**
 * No lock is held on an mbox spool while a message is sent, and two sessions may be open at
 * once. When the other one QUITs with a rewrite in place (a spool directory the user may not
 * create files in, or --update=inplace), every byte after the first change moves under the
 * first session's reader: its RETR went on reading at the old offsets and sent the end of the
 * message from the next one's bytes, then the terminating dot. The client stored a mix of two
 * messages as if it were whole, and could DELE the real one. Now the message is checked again
 * at its end (its From_ line, and the next one, still in place): a message read across a
 * rewrite ends the session without the dot (end=read-error), and nothing is removed. TOP too.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, constants, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";

const FIRST = "From a@example.org Mon Jan  1 00:00:01 2024\nSubject: first\n\nfirst message, deleted by the other session\n\n";
const SECOND = `From b@example.org Mon Jan  1 00:00:02 2024\nSubject: second\n\n${"second message line ........................................\n".repeat(80_000)}\n`;
const THIRD = `From c@example.org Mon Jan  1 00:00:03 2024\nSubject: third\n\n${"THIRD-MESSAGE-BYTES\n".repeat(2000)}\n`;

describe.each(["RETR 2", "TOP 2 70000"])("an mbox rewritten in place during %s", (command) => {
  test("the session ends without the terminating dot instead of sending a mix of two messages", async () => {
    const dir = tempDir("mbox-rewrite");
    const spool = join(dir, "spool");
    writeFileSync(spool, FIRST + SECOND + THIRD);
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", USER: "root", HOME: dir };
    // The reader's output goes into a FIFO nobody reads yet, so it blocks in write(2) inside message 2.
    const fifo = join(dir, "out");
    expect(run(["mkfifo", fifo]).code).toBe(0);
    const drain = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const sink = openSync(fifo, constants.O_WRONLY);
    const reader = Bun.spawn([POPPIN, "pop3d", "--update=inplace", "mbox:spool"], { cwd: dir, env, stdin: "pipe", stdout: sink, stderr: "pipe" });
    closeSync(sink);
    reader.stdin.write(`${command}\r\nDELE 2\r\nQUIT\r\n`);
    await reader.stdin.end();
    // Blocked in write(2) on the full FIFO, in the middle of message 2.
    const blocked = () => readFileSync(`/proc/${reader.pid}/wchan`, "latin1").includes("pipe_write");
    for (const deadline = Date.now() + 15_000; !blocked() && Date.now() < deadline;) await Bun.sleep(20);
    expect(blocked()).toBe(true);
    // Meanwhile the other session deletes message 1 and rewrites the spool in place.
    const other = run([POPPIN, "pop3d", "--update=inplace", "mbox:spool"], { cwd: dir, env, stdin: "DELE 1\r\nQUIT\r\n", timeoutMs: 20_000 });
    expect(other.out).toEndWith("+OK message 1 deleted\r\n+OK \r\n");
    expect(readFileSync(spool, "latin1")).toBe(SECOND + THIRD);
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      let n: number;
      try {
        n = readSync(drain, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as { code?: string }).code !== "EAGAIN") throw e;
        await Bun.sleep(5);
        continue;
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    closeSync(drain);
    const [err] = await Promise.all([new Response(reader.stderr).text(), reader.exited]);
    const out = Buffer.concat(chunks);
    const text = out.toString("latin1");
    expect(text.slice(0, 30)).toStartWith("+OK \r\n+OK ");
    // Not a whole message: no terminator, no answer to the DELE and QUIT behind it (no huge diff printed).
    expect(text.includes("\r\n.\r\n")).toBe(false);
    expect(text.includes("message 2 deleted")).toBe(false);
    expect(err).toMatch(/end=read-error .*deleted=0/);
    expect(err).toContain("unable to read message 2: ESTALE");
    // The spool keeps both messages.
    expect(readFileSync(spool, "latin1")).toBe(SECOND + THIRD);
  }, 30_000);
});

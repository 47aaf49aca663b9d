/**
 * A user process (its owner can ptrace it) that floods its stderr: past the line bound
 * nothing more is logged, and nothing more is read either, so the one process serving every
 * session does not spend its time reading and discarding for as long as the flood runs.
 */
import { expect, test } from "bun:test";
import { MAX_USER_LOG_LINES, forwardUserLog } from "../../mod/standalone/user_log.ts";

test("a stderr flood stops being read once the line bound is reached", async () => {
  let pulled = 0;
  let closed = false;
  const chunk = new TextEncoder().encode("poppin pop3d: info: x\n".repeat(10));
  async function* flood(): AsyncGenerator<Uint8Array> {
    try {
      for (; pulled < 200_000; pulled++) yield chunk;
    } finally {
      closed = true;
    }
  }
  const lines: string[] = [];
  const started = performance.now();
  await forwardUserLog(flood(), "poppin pop3d", (l) => lines.push(l), 5000).stop();
  console.log(`${pulled} chunks read in ${(performance.now() - started).toFixed(0)} ms`);
  expect(lines).toHaveLength(MAX_USER_LOG_LINES + 1);
  // Unbounded, all 200,000 chunks (2,000,000 lines) were read and discarded.
  expect(pulled).toBeLessThan(MAX_USER_LOG_LINES / 10 + 5);
  expect(closed).toBe(true);
});

test("a real process's stderr: the pipe is closed, its further writes fail", async () => {
  const proc = Bun.spawn(["sh", "-c", 'i=0; while [ $i -lt 100000 ]; do echo "poppin pop3d: info: line $i" >&2 || exit 7; i=$((i+1)); done; exit 0'], { stderr: "pipe", stdout: "ignore" });
  const lines: string[] = [];
  const logged = forwardUserLog(proc.stderr, "poppin pop3d", (l) => lines.push(l), 5000);
  const code = await proc.exited;
  await logged.stop();
  expect(lines).toHaveLength(MAX_USER_LOG_LINES + 1);
  expect(code).not.toBe(0); // a write to the closed pipe failed (or SIGPIPE): it did not run to the end
});

/** A POP3 session of a program run with `commands` on a pipe, for tests that compare poppin's pop3d with Dovecot's pop3 run pre-authenticated. */
import { expect } from "bun:test";

/**
 * Runs `argv` in `dir` with `commands` on stdin (a pipe: Dovecot's pop3 cannot poll a file on
 * stdin); expects exit 0 and returns what it wrote on stdout.
 */
export async function pipedSession(argv: string[], dir: string, commands: string): Promise<string> {
  const proc = Bun.spawn(argv, { cwd: dir, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  proc.stdin.write(commands);
  await proc.stdin.end();
  const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
  return Buffer.from(out).toString("latin1");
}

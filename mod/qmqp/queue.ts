/**
 * Handing the message to a qmail-queue compatible program ($QMAILQUEUE): the message on
 * its fd 0, the envelope (F sender NUL, T recipient NUL ..., NUL) on its fd 1, both pipes
 * it reads; its exit code becomes the answer as qmail's qmail_close words it.
 */
import { closeSync, writeSync } from "node:fs";
import { dlopen } from "bun:ffi";
import { TempError } from "../base/errors.ts";
import { openUnderLimits } from "../sys/memory_limit.ts";
import { queueExitAnswer } from "./answers.ts";

function openLibc() {
  return openUnderLimits(() => dlopen("libc.so.6", { pipe2: { args: ["ptr", "i32"], returns: "i32" } }));
}

let handle: ReturnType<typeof openLibc> | undefined;
const O_CLOEXEC = 0o2000000;

/** A pipe whose ends are closed on exec (the child gets its end through spawn's stdio). */
function pipe(): { readEnd: number; writeEnd: number } {
  handle ??= openLibc();
  const fds = new Int32Array(2);
  if (handle.symbols.pipe2(fds, O_CLOEXEC) !== 0) throw new TempError("unable to create a pipe");
  return { readEnd: fds[0], writeEnd: fds[1] };
}

export function envelope(sender: Uint8Array, recipients: readonly Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [Buffer.from("F"), sender, Buffer.from([0])];
  for (const r of recipients) parts.push(Buffer.from("T"), r, Buffer.from([0]));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Writes everything, ignoring EPIPE (the program's exit code says what happened). */
function writeAllOrGiveUp(fd: number, chunks: readonly Uint8Array[]): void {
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== "EPIPE") throw err;
  } finally {
    closeSync(fd);
  }
}

/** Runs the queue program; returns the answer ("" for accepted, else a Z or D text). */
export async function queueMessage(program: string, message: readonly Uint8Array[], sender: Uint8Array, recipients: readonly Uint8Array[], env: Record<string, string>): Promise<string> {
  const body = pipe();
  const env1 = pipe();
  let child;
  try {
    child = Bun.spawn([program], { stdio: [body.readEnd, env1.readEnd, "inherit"], env });
  } catch {
    closeSync(body.writeEnd); closeSync(env1.writeEnd);
    return queueExitAnswer(120, null);
  } finally {
    closeSync(body.readEnd);
    closeSync(env1.readEnd);
  }
  writeAllOrGiveUp(body.writeEnd, message);
  writeAllOrGiveUp(env1.writeEnd, [envelope(sender, recipients)]);
  const code = await child.exited;
  const signal = child.signalCode === null || child.signalCode === undefined ? null : String(child.signalCode);
  return queueExitAnswer(signal ? null : code, signal);
}

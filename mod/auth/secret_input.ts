/**
 * Reading passwords and APOP secrets for `poppin users`: never from argv (other users
 * see it in ps). From a terminal: a prompt on stderr with echo off, asked twice. From
 * anything else: one line per secret on stdin, so scripts can pipe them in.
 */
import { readSync } from "node:fs";
import { isatty } from "../sys/builtins.ts";
import { TempError, PermError, describeSysError } from "../base/errors.ts";

/** Bound on a secret (and on what we read from stdin). */
export const MAX_SECRET = 1024;

/** Where secrets come from: stdin lines, or the terminal with prompts. */
export interface SecretSource {
  next(prompt: string): Uint8Array;
}

function readLineFromFd(fd: number, limit: number): Uint8Array | undefined {
  const out: number[] = [];
  const one = new Uint8Array(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, one, 0, 1, null);
    } catch (err) {
      if ((err as { code?: string }).code === "EAGAIN" || (err as { code?: string }).code === "EINTR") {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw new TempError(`unable to read the secret: ${describeSysError(err)}`);
    }
    if (n === 0) return out.length === 0 ? undefined : Uint8Array.from(out);
    if (one[0] === 0x0a) break;
    if (out.length >= limit) throw new PermError(`secret longer than ${limit} bytes`);
    out.push(one[0]);
  }
  if (out.length > 0 && out[out.length - 1] === 0x0d) out.pop();
  const line = Uint8Array.from(out);
  out.fill(0);
  return line;
}

/** Secrets as lines on stdin (one byte at a time, so nothing after the line is consumed). */
export function stdinSecrets(fd = 0): SecretSource {
  return {
    next(prompt) {
      const line = readLineFromFd(fd, MAX_SECRET);
      if (line === undefined) throw new PermError(`no ${prompt.replace(/:\s*$/, "").toLowerCase()} on standard input`);
      return line;
    },
  };
}

function setEcho(on: boolean): void {
  const r = Bun.spawnSync(["stty", on ? "echo" : "-echo"], { stdin: "inherit", stdout: "ignore", stderr: "ignore" });
  if (r.exitCode !== 0) throw new TempError("unable to turn terminal echo off (stty failed)");
}

/** Prompts (through `say`, the applet's stderr) with echo off; asks twice and compares. */
export function terminalSecrets(say: (text: string) => void, fd = 0): SecretSource {
  return {
    next(prompt) {
      setEcho(false);
      try {
        say(prompt);
        const first = readLineFromFd(fd, MAX_SECRET) ?? new Uint8Array(0);
        say(`\nagain: `);
        const second = readLineFromFd(fd, MAX_SECRET) ?? new Uint8Array(0);
        say("\n");
        const same = Buffer.compare(first, second) === 0;
        second.fill(0);
        if (!same) {
          first.fill(0);
          throw new PermError("the two entries differ");
        }
        return first;
      } finally {
        setEcho(true);
      }
    },
  };
}

/** The terminal when stdin is one, stdin lines otherwise. */
export function defaultSecretSource(say: (text: string) => void): SecretSource {
  return isatty(0) ? terminalSecrets(say, 0) : stdinSecrets(0);
}

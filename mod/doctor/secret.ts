/** One password line: from the terminal with echo off (stty), or the first line of stdin. */
import { readSync } from "node:fs";

const MAX = 1024;

function setEcho(on: boolean): boolean {
  return Bun.spawnSync(["stty", on ? "echo" : "-echo"], { stdin: "inherit", stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

function readLine(fd: number): Uint8Array | undefined {
  const out: number[] = [];
  const one = new Uint8Array(1);
  for (;;) {
    let n = 0;
    try { n = readSync(fd, one, 0, 1, null); } catch (err) {
      if ((err as { code?: string }).code === "EAGAIN") { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); continue; }
      return undefined;
    }
    if (n === 0) return out.length ? Uint8Array.from(out) : undefined;
    if (one[0] === 0x0a) break;
    if (out.length < MAX) out.push(one[0]);
  }
  if (out.length && out[out.length - 1] === 0x0d) out.pop();
  return Uint8Array.from(out);
}

export function readSecretLine(tty: boolean, say: (text: string) => void, prompt: string): Uint8Array | undefined {
  if (!tty) return readLine(0);
  const quiet = setEcho(false);
  try {
    say(prompt);
    return readLine(0);
  } finally {
    if (quiet) setEcho(true);
    say("\n");
  }
}

/**
 * Failed logins per client address across sessions (each popup is its own process,
 * so the count lives in a directory: one small file per address holding
 * "count window-start"). Once an address reaches the limit within the window, its
 * logins are refused without checking the password until the window ends.
 * Best effort by design: an unwritable directory never locks anybody out.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FailureLimitOptions {
  dir: string;
  limit: number;
  windowSeconds: number;
  /** Seconds since the epoch (tests set it). */
  now?: () => number;
}

function fileFor(dir: string, ip: string): string {
  return join(dir, ip.replace(/[^0-9A-Za-z.:_-]/g, "_").replaceAll(":", "_") || "unknown");
}

function readCount(file: string, now: number, windowSeconds: number): { count: number; start: number } {
  try {
    const [count, start] = readFileSync(file, "latin1").trim().split(" ").map(Number);
    if (Number.isFinite(count) && Number.isFinite(start) && now - start! < windowSeconds) return { count: count!, start: start! };
  } catch {
    // no record yet
  }
  return { count: 0, start: now };
}

/** Whether `ip` has used up its failed logins for now. */
export function addressBlocked(ip: string, opts: FailureLimitOptions): boolean {
  const now = opts.now?.() ?? Math.floor(Date.now() / 1000);
  return readCount(fileFor(opts.dir, ip), now, opts.windowSeconds).count >= opts.limit;
}

/** Counts one failed login from `ip`. */
export function recordFailure(ip: string, opts: FailureLimitOptions): void {
  const now = opts.now?.() ?? Math.floor(Date.now() / 1000);
  const file = fileFor(opts.dir, ip);
  const { count, start } = readCount(file, now, opts.windowSeconds);
  try {
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, `${count + 1} ${start}\n`);
    renameSync(tmp, file);
  } catch {
    // best effort (see above)
  }
}

/**
 * Failed logins per client address across sessions (each popup is its own process,
 * so the count lives in a directory: one small file per address holding
 * "count window-start"). Once an address reaches the limit within the window, its
 * logins are refused without checking the password until the window ends.
 * Best effort by design: an unwritable directory never locks anybody out.
 * popup may run as root while others can write in the directory: a count is read only from a
 * regular file, never through a link and never waiting on a FIFO; a new count is written to
 * a temporary file created exclusively (never through a link left at its name), then renamed.
 */
import { closeSync, constants, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { randomBytes } from "../sys/random.ts";

/** A count file is a few dozen octets: more is not ours. */
const COUNT_MAX_OCTETS = 64;

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

/** The count file's text: "" when it is missing or not a regular file (a link, a FIFO ...). */
function readCountFile(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) return "";
    const buf = Buffer.alloc(COUNT_MAX_OCTETS);
    return buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

function readCount(file: string, now: number, windowSeconds: number): { count: number; start: number } {
  try {
    const [count, start] = readCountFile(file).trim().split(" ").map(Number);
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
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${count + 1} ${start}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch {
    try { unlinkSync(tmp); } catch { /* not made, or gone */ }
    // best effort (see above)
  }
}

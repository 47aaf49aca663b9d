/**
 * Failed logins per client address across sessions (each popup is its own process,
 * so the count lives in a directory: one small file per address holding
 * "count window-start"). Once an address reaches the limit within the window, its
 * logins are refused without checking the password until the window ends.
 * Best effort by design: an unwritable directory never locks anybody out.
 * popup may run as root while others can write in the directory: a count is read only from a
 * regular file, never through a link and never waiting on a FIFO; a new count is written to
 * a temporary file created exclusively (never through a link left at its name), then renamed.
 *
 * Bounded: an IPv6 client is counted per /64 (a host is given a whole /64 and may take any
 * address in it, so counting single addresses let one client try without limit, a new address
 * and a new file each time), and files whose window is over are removed a few times a window, so the
 * directory holds about the addresses that failed within the last window, not every address
 * that ever failed.
 */
import { closeSync, constants, fstatSync, futimesSync, lstatSync, openSync, readdirSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { clientKey } from "../rules/ip6.ts";
import { randomBytes } from "../sys/random.ts";

/** A count file is a few dozen octets: more is not ours. */
const COUNT_MAX_OCTETS = 64;

export interface FailureLimitOptions {
  dir: string;
  limit: number;
  windowSeconds: number;
  /** Seconds since the epoch (tests set it). */
  now?: () => number;
  /** Whether this new count also removes expired files (default: pruneDue; tests set it). */
  prune?: () => boolean;
}

function fileFor(dir: string, ip: string): string {
  return join(dir, clientKey(ip).replace(/[^0-9A-Za-z.:_-]/g, "_").replaceAll(":", "_") || "unknown");
}

/**
 * Expired files are looked for at most this many times per window: listing a directory of
 * thousands of counts takes tens of milliseconds, in serve --inline's one process among others.
 */
export const PRUNES_PER_WINDOW = 4;

/** The file whose time says when the directory was last pruned. */
export const PRUNE_MARK = ".pruned";

/**
 * Whether the directory is due for pruning, and if so marks it pruned now: every counting
 * process may prune (each popup of the classic chain is one), the mark's time says when one
 * last did. The mark is opened without following a link or waiting on a FIFO and must be a
 * regular file with one link; otherwise nothing is pruned (best effort, as the counts are).
 */
export function pruneDue(dir: string, windowSeconds: number, nowMs = Date.now()): boolean {
  let fd: number;
  try {
    fd = openSync(join(dir, PRUNE_MARK), constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch {
    return false;
  }
  try {
    const st = fstatSync(fd);
    // One link: a hard link to a file elsewhere (a root file whose age means something) is not touched.
    if (!st.isFile() || st.nlink !== 1 || st.mtimeMs > nowMs - (windowSeconds * 1000) / PRUNES_PER_WINDOW) return false;
    futimesSync(fd, nowMs / 1000, nowMs / 1000);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the files last written before the window now open began: their counts are over
 * (a count starts no later than its file was written). Names are only lstat'ed and unlinked,
 * neither of which follows a link; a file another account owns in a sticky directory stays.
 */
export function pruneExpired(dir: string, windowSeconds: number, nowMs = Date.now()): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  const before = nowMs - windowSeconds * 1000;
  let removed = 0;
  for (const name of names) {
    if (name === PRUNE_MARK) continue;
    const path = join(dir, name);
    try {
      const st = lstatSync(path);
      if (st.mtimeMs >= before || !(st.isFile() || st.isSymbolicLink())) continue;
      unlinkSync(path);
      removed++;
    } catch {
      // gone meanwhile, or not ours to remove (best effort)
    }
  }
  return removed;
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
    if (count === 0 && (opts.prune ?? (() => pruneDue(opts.dir, opts.windowSeconds)))()) pruneExpired(opts.dir, opts.windowSeconds);
  } catch {
    try { unlinkSync(tmp); } catch { /* not made, or gone */ }
    // best effort (see above)
  }
}

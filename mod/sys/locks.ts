/**
 * The kernel's advisory locks through bun:ffi, every wait bounded:
 * - flock(2): what daemontools takes on a log directory's `lock` (lock_exnb), what `users`
 *   takes on its database, what the [IN-USE] Maildir lock and some mbox MDAs use;
 * - fcntl(2) F_SETLK record locks on the whole file: procmail, mail.local, Dovecot on mbox.
 * Non-blocking calls are retried every 20 ms until a deadline; failures are SysCallError
 * (code EWOULDBLOCK/EAGAIN/EACCES while another process holds the lock). fcntl locks belong
 * to the process and vanish when any of its descriptors for the file closes.
 */
import { ptr } from "bun:ffi";
import { nodeOs } from "./builtins.ts";
import { SysCallError, lastErrno, libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  fcntl: { args: ["i32", "i32", "ptr"], returns: "i32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
}).symbols;

// Linux (x86-64 and arm64 alike): F_SETLK = 6; struct flock is
// { short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; } = 32 octets.
const F_SETLK = 6;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const RETRY_MS = 20;

/** Whether a failed lock call means "held by another process". */
export function lockBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "EAGAIN" || code === "EACCES" || code === "EWOULDBLOCK";
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function setlk(fd: number, type: number): number {
  const flock = new Uint8Array(32);
  new DataView(flock.buffer).setInt16(0, type, true); // l_whence SEEK_SET, start 0, len 0 = whole file
  return libc().fcntl(fd, F_SETLK, ptr(flock));
}

/** Retries `attempt` every 20 ms until it succeeds or `timeoutMs` passed (0: one try). */
function retry(call: string, timeoutMs: number, attempt: () => number): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (attempt() === 0) return;
    const err = new SysCallError(call, lastErrno());
    if (err.errno === nodeOs().constants.errno.EINTR) continue;
    if (!lockBusy(err) || Date.now() >= deadline) throw err;
    sleepMs(RETRY_MS);
  }
}

/** fcntl record lock on the whole file: "write" needs fd open for writing. */
export function fcntlLock(fd: number, mode: "read" | "write", timeoutMs: number): void {
  retry("fcntl", timeoutMs, () => setlk(fd, mode === "write" ? F_WRLCK : F_RDLCK));
}

export function fcntlUnlock(fd: number): void {
  setlk(fd, F_UNLCK);
}

export function flockLock(fd: number, mode: "read" | "write", timeoutMs: number): void {
  retry("flock", timeoutMs, () => libc().flock(fd, (mode === "write" ? LOCK_EX : LOCK_SH) | LOCK_NB));
}

export function flockUnlock(fd: number): void {
  libc().flock(fd, LOCK_UN);
}

/** flock(fd, LOCK_EX | LOCK_NB), as daemontools' lock_exnb: one try, SysCallError when held. */
export function lockExclusiveNonBlocking(fd: number): void {
  flockLock(fd, "write", 0);
}

/** flock(fd, LOCK_EX), waiting at most `timeoutMs` for another holder. */
export function flockExclusive(fd: number, timeoutMs = 10_000): void {
  flockLock(fd, "write", timeoutMs);
}

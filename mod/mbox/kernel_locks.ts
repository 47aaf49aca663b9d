/**
 * The kernel locks mbox delivery agents take on a spool, through bun:ffi: fcntl(2)
 * record locks (F_SETLK on the whole file; procmail, mail.local, Dovecot) and flock(2)
 * (some MDAs; Dovecot's "flock" mode). Non-blocking calls retried until a deadline, so
 * every wait is bounded. fcntl locks belong to the process and vanish when any of its
 * descriptors for the file closes: keep one descriptor per spool open while locked.
 */
import { dlopen, ptr, read } from "bun:ffi";
import { constants } from "node:os";

function openLibc() {
  return dlopen("libc.so.6", {
    fcntl: { args: ["i32", "i32", "ptr"], returns: "i32" },
    flock: { args: ["i32", "i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  });
}

let handle: ReturnType<typeof openLibc> | undefined;

function libc(): ReturnType<typeof openLibc>["symbols"] {
  handle ??= openLibc();
  return handle.symbols;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** A failed lock call: `code` is the errno name ("EAGAIN" when another process holds the lock). */
export class KernelLockError extends Error {
  readonly code: string;
  constructor(call: string, errno: number) {
    const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
    super(`${call}: ${code}`);
    this.name = "KernelLockError";
    this.code = code;
  }
}

function errno(): number {
  const where = libc().__errno_location();
  return where === null ? 0 : read.i32(where, 0);
}

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

function busy(e: number): boolean {
  return e === constants.errno.EAGAIN || e === constants.errno.EACCES || e === constants.errno.EWOULDBLOCK;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function setlk(fd: number, type: number): number {
  const flock = new Uint8Array(32);
  new DataView(flock.buffer).setInt16(0, type, true); // l_whence SEEK_SET, start 0, len 0 = whole file
  return libc().fcntl(fd, F_SETLK, ptr(flock));
}

/** Retries `attempt` every 20 ms until it succeeds or `timeoutMs` passed; throws KernelLockError. */
function retry(call: string, timeoutMs: number, attempt: () => number): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (attempt() === 0) return;
    const e = errno();
    if (e === constants.errno.EINTR) continue;
    if (!busy(e) || Date.now() >= deadline) throw new KernelLockError(call, e);
    sleepMs(20);
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

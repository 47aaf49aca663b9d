/**
 * The dot-lock of an mbox spool, `SPOOL.lock`, made the way that also works over NFS
 * (procmail, liblockfile): write a uniquely named file in the spool's directory,
 * link(2) it to SPOOL.lock, and trust the link count of the unique file rather than
 * link's return value (NFS may report a lost reply as failure). A lock is stale, and
 * broken, when it is older than `staleSeconds` (liblockfile's 5 minutes by default), or
 * when it names a process of this host that no longer exists (our own locks, and
 * liblockfile's, hold the pid).
 */
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";

/** liblockfile's default: a lock untouched for 5 minutes is stale. */
export const DEFAULT_STALE_SECONDS = 300;

/** What our lock files hold after the pid: tells another poppin the holder is a POP session or convert. */
const OUR_MARK = "poppin";

export interface DotLockOptions {
  /** How long to wait for a lock held by someone else, in ms. */
  timeoutMs: number;
  staleSeconds?: number;
  /** Asked when another poppin holds the lock: true to give up at once (it is rewriting the spool) rather than wait. */
  failFastWhen?: () => boolean;
  now?: () => number;
}

export type DotLockFailure = { kind: "busy"; holder: "poppin" | "other" } | { kind: "error"; code: string };

export class DotLockError extends Error {
  readonly failure: DotLockFailure;
  constructor(path: string, failure: DotLockFailure) {
    super(failure.kind === "busy" ? `${path}: locked by ${failure.holder === "poppin" ? "another poppin session" : "another program"}` : `${path}: ${failure.code}`);
    this.name = "DotLockError";
    this.failure = failure;
  }
}

function code(e: unknown): string {
  return (e as { code?: string } | null)?.code ?? String(e);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether no process `pid` exists (on this host). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return code(e) === "ESRCH";
  }
}

interface Holder { poppin: boolean; stale: boolean; ino: number; mtimeMs: number }

function inspect(lockPath: string, staleSeconds: number, nowMs: number): Holder | undefined {
  let text: string;
  let mtimeMs: number;
  let ino: number;
  try {
    const st = statSync(lockPath);
    mtimeMs = st.mtimeMs;
    ino = st.ino;
    text = readFileSync(lockPath, "latin1").slice(0, 64);
  } catch {
    return undefined; // gone meanwhile: try again
  }
  const m = /^\s*([0-9]{1,10})(?:\s+(\S+))?/.exec(text);
  const pid = m ? Number(m[1]) : 0;
  const deadOwner = pid > 1 && processGone(pid) && (m?.[2] === undefined || m[2] === OUR_MARK);
  return { poppin: m?.[2] === OUR_MARK, stale: deadOwner || nowMs - mtimeMs > staleSeconds * 1000, ino, mtimeMs };
}

/** Takes SPOOL.lock; throws DotLockError. Returns the function that removes it. */
export function dotLock(spool: string, opts: DotLockOptions): () => void {
  const lockPath = `${spool}.lock`;
  const now = opts.now ?? Date.now;
  const staleSeconds = opts.staleSeconds ?? DEFAULT_STALE_SECONDS;
  const unique = join(dirname(spool), `.${basename(spool)}.lk${process.pid}.${Math.floor(Math.random() * 1e9)}.${hostname()}`);
  const deadline = now() + opts.timeoutMs;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(unique, "wx", 0o644);
    } catch (e) {
      throw new DotLockError(lockPath, { kind: "error", code: code(e) });
    }
    try {
      writeSync(fd, `${process.pid} ${OUR_MARK}\n`);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(unique, lockPath);
    } catch {
      // EEXIST, or an NFS reply lost: the link count below decides
    }
    let linked = false;
    try {
      linked = statSync(unique).nlink === 2;
    } catch {
      linked = false;
    }
    try { unlinkSync(unique); } catch { /* removed below or already gone */ }
    if (linked) {
      return () => {
        try { unlinkSync(lockPath); } catch { /* broken by someone else as stale */ }
      };
    }
    const holder = inspect(lockPath, staleSeconds, now());
    if (holder?.stale) {
      // Break it only if it is still the lock judged stale (another breaker may have made a new one).
      try {
        const again = statSync(lockPath);
        if (again.ino === holder.ino && again.mtimeMs === holder.mtimeMs) unlinkSync(lockPath);
      } catch { /* someone else broke it */ }
      continue;
    }
    if (holder?.poppin && opts.failFastWhen?.()) throw new DotLockError(lockPath, { kind: "busy", holder: "poppin" });
    if (now() >= deadline) throw new DotLockError(lockPath, { kind: "busy", holder: holder?.poppin ? "poppin" : "other" });
    sleepMs(50);
  }
}

/**
 * The dot-lock of an mbox spool, `SPOOL.lock`, made the way that also works over NFS
 * (procmail, liblockfile): write a uniquely named file in the spool's directory,
 * link(2) it to SPOOL.lock, and trust the link count of the unique file rather than
 * link's return value (NFS may report a lost reply as failure). Our lock holds
 * "PID poppin HOST" (liblockfile reads the leading pid). A lock is stale, and broken:
 * - when it names this host and a process that no longer exists here (the only owner
 *   this process can check: a pid means nothing on another NFS client, or in another
 *   PID namespace, which has another host name);
 * - otherwise (another host, or no host: procmail's and liblockfile's locks) only when
 *   it is older than `staleSeconds` (liblockfile's 5 minutes by default).
 */
import { closeSync, constants, linkSync, lstatSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { sysErrorCode } from "../base/errors.ts";
import { DEFAULT_STALE_SECONDS } from "./lock_names.ts";

export { DEFAULT_STALE_SECONDS } from "./lock_names.ts";

/** What our lock files hold after the pid: tells another poppin the holder is a POP session or convert. */
const OUR_MARK = "poppin";

export interface DotLockOptions {
  /** How long to wait for a lock held by someone else, in ms. */
  timeoutMs: number;
  staleSeconds?: number;
  /** Asked when another poppin holds the lock: true to give up at once (it is rewriting the spool) rather than wait. */
  failFastWhen?: () => boolean;
  now?: () => number;
  /** This host's name, as written in the lock (default os.hostname()). */
  host?: string;
}

/**
 * busy: held (live) at the deadline; error: our lock could not be made; stuck: the lock is
 * stale but not ours to remove (another user's, in a sticky directory).
 */
export type DotLockFailure = { kind: "busy"; holder: "poppin" | "other" } | { kind: "error"; code: string } | { kind: "stuck"; code: string; owner: number };

export class DotLockError extends Error {
  readonly failure: DotLockFailure;
  constructor(path: string, failure: DotLockFailure) {
    super(failure.kind === "busy" ? `${path}: locked by ${failure.holder === "poppin" ? "another poppin session" : "another program"}`
      : failure.kind === "stuck" ? `${path}: stale, and not ours to remove (owner uid ${failure.owner}): ${failure.code}` : `${path}: ${failure.code}`);
    this.name = "DotLockError";
    this.failure = failure;
  }
}

function code(e: unknown): string {
  return sysErrorCode(e) ?? String(e);
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

interface Holder { poppin: boolean; stale: boolean; ino: number; mtimeMs: number; uid: number }

/** What a lock file's first line says: its pid, our mark, its host (each may be missing). */
export function parseLockText(text: string): { pid: number; poppin: boolean; host?: string } {
  const m = /^\s*([0-9]{1,10})(?:[ \t]+(\S+))?(?:[ \t]+(\S+))?/.exec(text);
  if (!m) return { pid: 0, poppin: false };
  return { pid: Number(m[1]), poppin: m[2] === OUR_MARK, ...(m[3] !== undefined ? { host: m[3] } : {}) };
}

/** The text of our lock file. */
export function lockText(pid: number, host: string): string {
  return `${pid} ${OUR_MARK} ${host}\n`;
}

/** The first octets of a lock file, never through a link nor blocking on a FIFO swapped in. */
function readHead(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(256);
    return buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

function inspect(lockPath: string, staleSeconds: number, nowMs: number, host: string): Holder | undefined {
  let text: string;
  let mtimeMs: number;
  let ino: number;
  let uid: number;
  try {
    const st = lstatSync(lockPath);
    mtimeMs = st.mtimeMs;
    ino = st.ino;
    uid = st.uid;
    text = st.isFile() ? readHead(lockPath) : "";
  } catch {
    return undefined; // gone meanwhile: try again
  }
  const holder = parseLockText(text);
  // The pid is checked only where it means something: on this host, in a lock that says so.
  const deadOwner = holder.pid > 1 && holder.host === host && processGone(holder.pid);
  return { poppin: holder.poppin, stale: deadOwner || nowMs - mtimeMs > staleSeconds * 1000, ino, mtimeMs, uid };
}

/** Takes SPOOL.lock; throws DotLockError. Returns the function that removes it. */
export function dotLock(spool: string, opts: DotLockOptions): () => void {
  const lockPath = `${spool}.lock`;
  const now = opts.now ?? Date.now;
  const staleSeconds = opts.staleSeconds ?? DEFAULT_STALE_SECONDS;
  const host = opts.host ?? hostname();
  const unique = join(dirname(spool), `.${basename(spool)}.lk${process.pid}.${Math.floor(Math.random() * 1e9)}.${host}`);
  const deadline = now() + opts.timeoutMs;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(unique, "wx", 0o644);
    } catch (e) {
      throw new DotLockError(lockPath, { kind: "error", code: code(e) });
    }
    try {
      writeSync(fd, lockText(process.pid, host));
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(unique, lockPath);
    } catch {
      // EEXIST, or an NFS reply lost: the link count below decides
    }
    let linked = false;
    let ours = -1;
    try {
      const st = lstatSync(unique);
      linked = st.nlink === 2;
      ours = st.ino;
    } catch {
      linked = false;
    }
    try { unlinkSync(unique); } catch { /* removed below or already gone */ }
    if (linked) {
      return () => {
        // Only our own lock: if it was broken as stale and someone else took it, theirs stays.
        try {
          if (lstatSync(lockPath).ino === ours) unlinkSync(lockPath);
        } catch { /* broken by someone else as stale */ }
      };
    }
    const holder = inspect(lockPath, staleSeconds, now(), host);
    if (holder?.stale) {
      // Break it only if it is still the lock judged stale (another breaker may have made a new one).
      let broken = true;
      try {
        const again = lstatSync(lockPath);
        if (again.ino === holder.ino && again.mtimeMs === holder.mtimeMs) unlinkSync(lockPath);
      } catch (e) {
        // Gone already: try again. Not ours to remove (another user's lock in a sticky
        // directory): waiting would not end it, so the caller decides (kernel locks, or refuse).
        if (code(e) === "EPERM" || code(e) === "EACCES") throw new DotLockError(lockPath, { kind: "stuck", code: code(e), owner: holder.uid });
        broken = code(e) === "ENOENT";
      }
      if (broken) continue;
    }
    if (holder?.poppin && opts.failFastWhen?.()) throw new DotLockError(lockPath, { kind: "busy", holder: "poppin" });
    if (now() >= deadline) throw new DotLockError(lockPath, { kind: "busy", holder: holder?.poppin ? "poppin" : "other" });
    sleepMs(50);
  }
}

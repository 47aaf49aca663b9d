/**
 * Locking a spool the way local delivery agents expect, taken in their order (dot-lock
 * first, then the kernel locks on the open spool) and held only for the short reads and
 * rewrites, never for a whole POP3 session. Which locks: `dotlock` and `fcntl` by
 * default (Debian's procmail: "Locking strategies: dotlocking, fcntl()"), `flock` on
 * request for MDAs that use it.
 */
import { TempError, describeSysError } from "../base/errors.ts";
import { DotLockError, dotLock } from "./dot_lock.ts";
import { fcntlLock, fcntlUnlock, flockLock, flockUnlock, lockBusy } from "../sys/locks.ts";

import { SpoolBusy, type LockMethod } from "./lock_names.ts";

export { DEFAULT_LOCK_METHODS, SpoolBusy, parseLockMethods, type LockMethod } from "./lock_names.ts";

export interface SpoolLockOptions {
  methods: readonly LockMethod[];
  timeoutMs: number;
  staleSeconds?: number;
  /** Asked when another poppin holds the dot-lock: true to fail at once (it is rewriting the spool). */
  failFastWhen?: () => boolean;
  /**
   * The dot-lock could not be made (the spool directory is not writable for us, or another
   * user's stale lock in a sticky directory is not ours to remove) while a kernel lock was
   * requested too: warn and go on with the kernel locks. With the dot-lock
   * alone, that is a failure (TempError): the spool is never used unlocked.
   */
  onDotLockUnavailable?: (why: string) => void;
}

export interface SpoolLock {
  release(): void;
}

/** Locks `spool` (whose descriptor `fd` the caller keeps open until release). Throws SpoolBusy, or a system error. */
export function lockSpool(spool: string, fd: number, mode: "read" | "write", opts: SpoolLockOptions): SpoolLock {
  const releases: (() => void)[] = [];
  const release = () => {
    for (const r of releases.splice(0).reverse()) r();
  };
  const deadline = Date.now() + opts.timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  try {
    if (opts.methods.includes("dotlock")) {
      try {
        releases.push(dotLock(spool, { timeoutMs: left(), staleSeconds: opts.staleSeconds, failFastWhen: opts.failFastWhen }));
      } catch (e) {
        if (!(e instanceof DotLockError)) throw e;
        if (e.failure.kind === "busy") throw new SpoolBusy(e.message, e.failure.holder === "poppin");
        // Another user's stale lock in a sticky directory (planted, or left by a crashed
        // program of theirs) would keep the mailbox locked for good; a directory we cannot
        // write in lets us make none. Delivery agents take fcntl too (procmail, exim,
        // postfix, dovecot-lda), so a kernel lock still keeps them out; with the dot-lock
        // alone the session is refused, never run unlocked.
        const why = e.failure.kind === "stuck" ? e.message : `unable to make ${spool}.lock: ${e.failure.code}`;
        if (e.failure.kind === "error" && e.failure.code !== "EACCES" && e.failure.code !== "EPERM" && e.failure.code !== "EROFS") throw new TempError(`unable to make ${spool}.lock: ${describeSysError({ code: e.failure.code })}`);
        if (!opts.methods.includes("fcntl") && !opts.methods.includes("flock")) {
          throw new TempError(`${e.failure.kind === "stuck" ? e.message : `unable to make ${spool}.lock: ${describeSysError({ code: e.failure.code })}`}, and no other lock was requested`);
        }
        opts.onDotLockUnavailable?.(`${why}; relying on kernel locks`);
      }
    }
    if (opts.methods.includes("fcntl")) {
      fcntlLock(fd, mode, left());
      releases.push(() => fcntlUnlock(fd));
    }
    if (opts.methods.includes("flock")) {
      flockLock(fd, mode, left());
      releases.push(() => flockUnlock(fd));
    }
  } catch (e) {
    release();
    if (lockBusy(e)) {
      throw new SpoolBusy(`${spool}: ${(e as Error).message}`, false);
    }
    throw e;
  }
  return { release };
}

/**
 * [IN-USE] (RFC 2449 section 8.1.2): one session per Maildir at a time, as Dovecot's
 * pop3_lock_session does, so two sessions cannot both hand out and delete the same
 * messages. The lock is flock(2) on `poppin-session.lock` in the Maildir, a file of the
 * owner's with mode 0600: it goes away with the process however the session ends. A lock on
 * the Maildir directory itself needs only read access to it, so any local user who may read
 * a Maildir made 0755 (procmail makes them so) could hold it and keep its owner out for good;
 * the file only its owner may open cannot be locked by anybody else. Where the file cannot be
 * made or used (a read-only Maildir), the directory is locked as before. mailbox-lock=none
 * keeps qmail's lock-free behaviour (the second session may see messages the first deletes;
 * a vanished message is then reported as such).
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { TempError, describeSysError, sysErrorCode } from "../base/errors.ts";
import { lockBusy, lockExclusiveNonBlocking } from "../sys/locks.ts";
import { effectiveUid, openDirectory } from "../sys/owned_file.ts";

export const SESSION_LOCK_FILE = "poppin-session.lock";

export class MailboxInUse extends Error {
  constructor(dir: string) {
    super(`${dir} is in use by another session`);
    this.name = "MailboxInUse";
  }
}

/**
 * The session lock file, opened (made 0600 when missing) without following a link or waiting
 * on a FIFO; undefined when the Maildir is missing ("missing"), or when the file cannot be our
 * own regular file here ("unusable": the directory is locked instead).
 */
function openLockFile(dir: string): number | "missing" | "unusable" {
  let fd: number;
  try {
    fd = openSync(join(dir, SESSION_LOCK_FILE), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    const c = sysErrorCode(e);
    if (c === "ENOENT" || c === "ENOTDIR") return "missing";
    if (c === "EACCES" || c === "EPERM" || c === "EROFS" || c === "ELOOP" || c === "ENXIO" || c === "EISDIR") return "unusable";
    throw new TempError(`unable to open ${join(dir, SESSION_LOCK_FILE)}: ${describeSysError(e)}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile() || st.uid !== effectiveUid()) {
    closeSync(fd);
    return "unusable";
  }
  // Nobody else may open it (and so lock it): a mode the owner widened is narrowed again.
  if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  return fd;
}

/**
 * Locks `dir` for this process's lifetime; returns the fd (close it to release), or
 * undefined when `dir` does not exist (the scan then reports it). Throws MailboxInUse or TempError.
 */
export function lockMailboxSession(dir: string): number | undefined {
  let fd: number;
  const file = openLockFile(dir);
  if (file === "missing") return undefined;
  if (file !== "unusable") fd = file;
  else {
    try {
      // O_DIRECTORY: a FIFO the owner put at the Maildir's name fails (ENOTDIR) instead of blocking.
      fd = openDirectory(dir);
    } catch (e) {
      const c = sysErrorCode(e);
      if (c === "ENOENT" || c === "ENOTDIR") return undefined;
      throw new TempError(`unable to open ${dir} to lock it: ${describeSysError(e)}`);
    }
  }
  try {
    lockExclusiveNonBlocking(fd);
    return fd;
  } catch (e) {
    closeSync(fd);
    if (lockBusy(e)) throw new MailboxInUse(dir);
    throw new TempError(`unable to lock ${dir}: ${(e as Error).message}`);
  }
}

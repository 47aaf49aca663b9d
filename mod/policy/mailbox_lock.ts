/**
 * [IN-USE] (RFC 2449 section 8.1.2): one session per Maildir at a time, as Dovecot's
 * pop3_lock_session does, so two sessions cannot both hand out and delete the same
 * messages. The lock is flock(2) on the Maildir directory itself: nothing to clean
 * up, and it goes away with the process however the session ends. mailbox-lock=none
 * keeps qmail's lock-free behaviour (the second session may see messages the first
 * deletes; a vanished message is then reported as such).
 */
import { closeSync } from "node:fs";
import { TempError, describeSysError } from "../base/errors.ts";
import { lockBusy, lockExclusiveNonBlocking } from "../sys/locks.ts";
import { openDirectory } from "../sys/owned_file.ts";

export class MailboxInUse extends Error {
  constructor(dir: string) {
    super(`${dir} is in use by another session`);
    this.name = "MailboxInUse";
  }
}

/**
 * Locks `dir` for this process's lifetime; returns the fd (close it to release), or
 * undefined when `dir` does not exist (the scan then reports it). Throws MailboxInUse or TempError.
 */
export function lockMailboxSession(dir: string): number | undefined {
  let fd: number;
  try {
    // O_DIRECTORY: a FIFO the owner put at the Maildir's name fails (ENOTDIR) instead of blocking.
    fd = openDirectory(dir);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new TempError(`unable to open ${dir} to lock it: ${describeSysError(e)}`);
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

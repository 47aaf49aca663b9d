/**
 * LOGIN-DELAY (RFC 2449 section 6.8), enforced: the time of the last login is the
 * modification time of a small file of the owner's (in the Maildir; for an mbox spool in
 * the owner's home, never beside a shared spool); a login sooner than the delay after it
 * is refused with -ERR [LOGIN-DELAY] and does not count as a login.
 */
import { closeSync, futimesSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { openRegularFile } from "../sys/owned_file.ts";

export const LAST_LOGIN_FILE = ".poppin-last-login";

/** The record of a Maildir's last login. */
export function maildirLastLoginFile(dir: string): string {
  return join(dir, LAST_LOGIN_FILE);
}

/** The record for an mbox spool: `~/.SPOOLNAME.poppin-last-login` in the owner's home. */
export function spoolLastLoginFile(home: string, spoolName: string): string {
  return join(home, `.${spoolName}${LAST_LOGIN_FILE}`);
}

/** Seconds the client still has to wait, or 0 when it may log in (and then the login is recorded in `file`). */
export function checkLoginDelay(file: string, delaySeconds: number, nowMs = Date.now()): number {
  // One descriptor, opened without waiting (a FIFO the owner put at the name fails: ENXIO or
  // EFTYPE, never a hang) and not through a link; the time is read and set through it.
  let opened;
  let first = false;
  try {
    opened = openRegularFile(file, "append", { follow: false });
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") return 0; // unrecordable: the delay cannot be enforced, the login goes on
    try {
      opened = openRegularFile(file, "append", { follow: false, create: 0o600 });
      first = true;
    } catch {
      return 0;
    }
  }
  try {
    const last = opened.stat.mtimeMs;
    const wait = Math.ceil((last + delaySeconds * 1000 - nowMs) / 1000);
    if (!first && wait > 0 && last <= nowMs) return wait;
    futimesSync(opened.fd, nowMs / 1000, nowMs / 1000);
  } catch {
    // unrecordable: as above
  } finally {
    closeSync(opened.fd);
  }
  return 0;
}

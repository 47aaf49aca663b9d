/**
 * LOGIN-DELAY (RFC 2449 section 6.8), enforced: the time of the last login is the
 * modification time of a small file in the Maildir; a login sooner than the delay
 * after it is refused with -ERR [LOGIN-DELAY] and does not count as a login.
 */
import { closeSync, openSync, statSync, utimesSync } from "node:fs";
import { join } from "../base/posix_path.ts";

export const LAST_LOGIN_FILE = ".poppin-last-login";

/** Seconds the client still has to wait, or 0 when it may log in (and then the login is recorded). */
export function checkLoginDelay(dir: string, delaySeconds: number, nowMs = Date.now()): number {
  const file = join(dir, LAST_LOGIN_FILE);
  try {
    const last = statSync(file).mtimeMs;
    const wait = Math.ceil((last + delaySeconds * 1000 - nowMs) / 1000);
    if (wait > 0 && last <= nowMs) return wait;
  } catch {
    // first login
  }
  try {
    closeSync(openSync(file, "a", 0o600));
    utimesSync(file, nowMs / 1000, nowMs / 1000);
  } catch {
    // unrecordable: the delay cannot be enforced, the login goes on
  }
  return 0;
}

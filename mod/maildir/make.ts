/**
 * maildirmake: create a Maildir exactly as qmail's maildirmake does: DIR, then DIR/tmp,
 * DIR/new and DIR/cur, each mode 0700, stopping at the first failure (what was made stays,
 * as with qmail). Messages are qmail's: "unable to mkdir DIR: file already exists".
 */
import { closeSync, constants, fchmodSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { TempError, describeSysError } from "../cli/errors.ts";

/** The mode qmail's maildirmake gives every directory (it sets umask 077 and mkdirs with 0700). */
export const MAILDIR_MODE = 0o700;
export const MAILDIR_SUBDIRS = ["tmp", "new", "cur"] as const;

function makeOne(path: string, shown: string): void {
  try {
    mkdirSync(path, MAILDIR_MODE);
    // qmail replaces the umask with 077; chmod gives the same 0700 whatever our umask is.
    // Through a descriptor of the directory just made, never a link swapped in for it.
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      fchmodSync(fd, MAILDIR_MODE);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    // qmail's maildirmake exits 111 on every mkdir failure (strerr_die4sys(111, ...)).
    throw new TempError(`unable to mkdir ${shown}: ${describeSysError(err)}`);
  }
}

/** Creates Maildir `dir`; throws TempError with qmail's wording on the first failure. */
export function maildirMake(dir: string): void {
  makeOne(dir, dir);
  for (const sub of MAILDIR_SUBDIRS) makeOne(join(dir, sub), `${dir}/${sub}`);
}

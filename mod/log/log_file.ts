/**
 * Opening a log directory's own files (current, lock, state, previous ...): never through a
 * symbolic link, only a regular file, and only one with a single link, so a multilog running
 * as root in a directory another account owns never appends to, truncates, chmods, reads or
 * creates a file of root's through a link (symbolic or hard) that account put at one of those
 * names. A truncating open truncates only after that check: O_TRUNC would act on a planted
 * hard link's target before fstat could see it.
 */
import { closeSync, constants as fsc, fstatSync, ftruncateSync, openSync, unlinkSync } from "node:fs";

/** daemontools open_append: O_WRONLY|O_NDELAY|O_APPEND|O_CREAT (mode 600 at the call). */
export const APPEND = fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_APPEND | fsc.O_CREAT;
/** daemontools open_trunc: O_WRONLY|O_NDELAY|O_TRUNC|O_CREAT (mode 644 at the call). */
export const TRUNC = fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_TRUNC | fsc.O_CREAT;
/** daemontools open_read: O_RDONLY|O_NDELAY. */
export const READ = fsc.O_RDONLY | fsc.O_NONBLOCK;
/** daemontools open_write: O_WRONLY|O_NDELAY. */
export const WRITE = fsc.O_WRONLY | fsc.O_NONBLOCK;

/** A name in the log directory that holds something other than a file of its own (a link, a FIFO ...). */
export class UntrustedLogFile extends Error {}

/** Opens one of the directory's own files with `flags` and O_NOFOLLOW: never through a link, and only a regular file with one link. */
export function openLogFile(path: string, flags: number, mode: number): number {
  let fd: number;
  try {
    fd = openSync(path, (flags & ~fsc.O_TRUNC) | fsc.O_NOFOLLOW, mode);
  } catch (err) {
    if ((err as { code?: string }).code === "ELOOP") throw new UntrustedLogFile("is a symbolic link");
    throw err;
  }
  const st = fstatSync(fd);
  const why = !st.isFile() ? "is not a regular file" : st.nlink !== 1 ? `has ${st.nlink} links` : undefined;
  if (why !== undefined) {
    closeSync(fd);
    throw new UntrustedLogFile(why);
  }
  if ((flags & fsc.O_TRUNC) !== 0) {
    try {
      ftruncateSync(fd, 0);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }
  return fd;
}

/**
 * openLogFile for a file whose old content may be lost (the processor's `processed`, `state`
 * and `newstate`, as after an unclean stop): an untrusted name is removed and made afresh,
 * empty, so a planted link neither lends its target nor stops the log for good.
 */
export function openOwnLogFile(path: string, flags: number, mode: number): number {
  try {
    return openLogFile(path, flags, mode);
  } catch (err) {
    if (!(err instanceof UntrustedLogFile)) throw err;
  }
  unlinkSync(path);
  return openLogFile(path, (flags & ~fsc.O_TRUNC) | fsc.O_CREAT | fsc.O_EXCL, mode);
}

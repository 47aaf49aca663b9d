/**
 * Opening a log directory's own files (current, lock, state, previous ...): never through a
 * symbolic link and only a regular file, so a multilog running as root in a directory another
 * account owns never appends to, truncates, chmods or creates a file of root's through a link
 * that account put at one of those names.
 */
import { closeSync, constants as fsc, fstatSync, openSync } from "node:fs";

/** daemontools open_append: O_WRONLY|O_NDELAY|O_APPEND|O_CREAT (mode 600 at the call). */
export const APPEND = fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_APPEND | fsc.O_CREAT;
/** daemontools open_trunc: O_WRONLY|O_NDELAY|O_TRUNC|O_CREAT (mode 644 at the call). */
export const TRUNC = fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_TRUNC | fsc.O_CREAT;
/** daemontools open_read: O_RDONLY|O_NDELAY. */
export const READ = fsc.O_RDONLY | fsc.O_NONBLOCK;
/** daemontools open_write: O_WRONLY|O_NDELAY. */
export const WRITE = fsc.O_WRONLY | fsc.O_NONBLOCK;

/** Opens one of the directory's own files with `flags` and O_NOFOLLOW: never through a link, and only a regular file. */
export function openLogFile(path: string, flags: number, mode: number): number {
  let fd: number;
  try {
    fd = openSync(path, flags | fsc.O_NOFOLLOW, mode);
  } catch (err) {
    if ((err as { code?: string }).code === "ELOOP") throw new Error("is a symbolic link");
    throw err;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error("is not a regular file");
  }
  return fd;
}


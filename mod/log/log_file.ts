/**
 * Opening a log directory's own files (current, lock, state, previous ...): never through a
 * symbolic link and only a regular file, so a multilog running as root in a directory another
 * account owns never appends to, truncates, chmods or creates a file of root's through a link
 * that account put at one of those names.
 */
import { closeSync, fstatSync, openSync } from "node:fs";

/** Opens one of the directory's own files: never through a link, and only a regular file. */
export function openLogFile(path: string, flags: number, mode: number): number {
  let fd: number;
  try {
    fd = openSync(path, flags, mode);
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


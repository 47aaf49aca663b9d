/**
 * Opening files in places another local user may influence (a shared spool directory, a
 * user's home or Maildir seen by a privileged process): never through a symbolic link
 * (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK), new files only exclusively
 * (O_CREAT|O_EXCL), and after opening, a check of what was opened (fstat): its type, its
 * owner and its link count, so a planted file, a hard link to someone else's file or a
 * file swapped in between a check and the open is refused.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from "node:fs";
import { TempError, sysErrorCode } from "../base/errors.ts";

/** A file that is there but may not be trusted (wrong owner, wrong type, linked elsewhere). */
export class UntrustedFile extends TempError {
  readonly path: string;
  constructor(path: string, why: string) {
    super(`${path} ${why}`);
    this.path = path;
  }
}

export type OpenMode = "read" | "readwrite" | "append";

const MODE_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  readwrite: constants.O_RDWR,
  append: constants.O_WRONLY | constants.O_APPEND,
};

/** Why the file open on `fd` (with stat `st`) may not be trusted, or undefined when it may. */
export function untrustedReason(st: Stats, owners: readonly number[], kind: "file" | "directory" = "file", anyLinks = false): string | undefined {
  if (kind === "file" && !st.isFile()) return "is not a regular file";
  if (kind === "directory" && !st.isDirectory()) return "is not a directory";
  if (!owners.includes(st.uid)) return `belongs to uid ${st.uid}, not ${owners.join(" or ")}`;
  if (kind === "file" && !anyLinks && st.nlink !== 1) return `has ${st.nlink} links`;
  return undefined;
}

/**
 * Opens an existing file at `path` without following a symbolic link and checks that it
 * is a regular file with one link (any number with `anyLinks`, for a file only read, that
 * backups made with hard links share) owned by one of `owners`. Throws UntrustedFile when it
 * is not; other failures (ENOENT ...) are thrown as the system reported them, except that
 * a symbolic link (ELOOP) is an UntrustedFile too.
 */
export function openOwnedFile(path: string, mode: OpenMode, owners: readonly number[], opts: { anyLinks?: boolean } = {}): { fd: number; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, MODE_FLAGS[mode] | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if (sysErrorCode(e) === "ELOOP") throw new UntrustedFile(path, "is a symbolic link");
    throw e;
  }
  const stat = fstatSync(fd);
  const why = untrustedReason(stat, owners, "file", opts.anyLinks);
  if (why !== undefined) {
    closeSync(fd);
    throw new UntrustedFile(path, why);
  }
  return { fd, stat };
}

/**
 * Opens an existing regular file of the session's own (a file in the user's Maildir or home,
 * read by a process running as that user) without ever waiting: O_NONBLOCK, so a FIFO put at
 * the name cannot hang the process in open(2) (a FIFO opened for writing with no reader fails
 * with ENXIO), and with `follow: false` not through a symbolic link (ELOOP). Anything but a
 * regular file is closed again and thrown as an error with code EFTYPE.
 */
export function openRegularFile(path: string, mode: OpenMode, opts: { follow?: boolean; create?: number } = {}): { fd: number; stat: Stats } {
  const create = opts.create === undefined ? 0 : constants.O_CREAT;
  const follow = opts.follow === false ? constants.O_NOFOLLOW : 0;
  const fd = openSync(path, MODE_FLAGS[mode] | constants.O_NONBLOCK | follow | create, opts.create ?? 0o600);
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path}: not a regular file`), { code: "EFTYPE" });
  }
  return { fd, stat };
}

/** Reads at most `max` octets from the start of an open file (a file of a user's is never read whole on trust). */
export function readHead(fd: number, max: number): Buffer {
  const buf = Buffer.allocUnsafe(max);
  let off = 0;
  while (off < max) {
    const got = readSync(fd, buf, off, max - off, off);
    if (got === 0) break;
    off += got;
  }
  return buf.subarray(0, off);
}

/**
 * Opens a directory (to fsync or lock it) without ever waiting on what was swapped in at its
 * name: O_DIRECTORY makes a FIFO or a file there fail with ENOTDIR instead of blocking in open(2).
 */
export function openDirectory(path: string): number {
  return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NONBLOCK);
}

/** Creates `path` exclusively (never an existing file, never through a link), read-write. */
export function createExclusive(path: string, mode: number): number {
  return openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
}

/**
 * Opens `path` for appending, creating it (with `mode`) when missing, never through a
 * symbolic link, and checks the result is a regular file with one link owned by `owner` (or one of them).
 */
export function openOwnedAppend(path: string, mode: number, owner: number | readonly number[]): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode);
  } catch (e) {
    if (sysErrorCode(e) === "ELOOP") throw new UntrustedFile(path, "is a symbolic link");
    throw e;
  }
  const why = untrustedReason(fstatSync(fd), typeof owner === "number" ? [owner] : owner);
  if (why !== undefined) {
    closeSync(fd);
    throw new UntrustedFile(path, why);
  }
  return fd;
}

/** lstat that answers undefined for a missing file. */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (sysErrorCode(e) === "ENOENT") return undefined;
    throw e;
  }
}

/** Checks (without following a link) that `path` is a real directory, owned by `owner` when given. */
export function checkRealDirectory(path: string, owner?: number): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) throw new UntrustedFile(path, "is a symbolic link");
  if (!st.isDirectory()) throw new UntrustedFile(path, "is not a directory");
  if (owner !== undefined && st.uid !== owner) throw new UntrustedFile(path, `belongs to uid ${st.uid}, not ${owner}`);
}

/** The effective uid (0 where the platform has none). */
export function effectiveUid(): number {
  return process.geteuid?.() ?? 0;
}

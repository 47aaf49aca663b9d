/**
 * Durable replacement of a small file: write a temporary name in the same directory
 * (mode 0600 unless the old file had another), fsync, rename over the target, fsync
 * the directory. Readers see the old file or the new one, never a partial one.
 */
import { closeSync, fchownSync, fsyncSync, lstatSync, openSync, renameSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { TempError, describeSysError } from "../base/errors.ts";
import { fsyncDirectory } from "../cdb/writer.ts";

/** The temporary name beside `path` for this process. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp.${process.pid}`);
}

/**
 * The file at `path` itself (lstat), when it is a regular file: only its mode and owner are
 * kept. A symbolic link is replaced by the rename, not followed: its target's owner (a file
 * of whoever made the link) must not become the new file's owner.
 */
function existing(path: string): Stats | undefined {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st : undefined;
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw new TempError(`unable to stat ${path}: ${describeSysError(err)}`);
  }
}

/**
 * Creates the temporary file for `path` (exclusively, never through a link) with the old
 * file's mode and owner (or 0600), and returns it open for writing, with its name.
 */
export function openPrivateTemp(path: string): { tmp: string; fd: number } {
  const tmp = tempPathFor(path);
  const old = existing(path);
  try { unlinkSync(tmp); } catch { /* left by nobody */ }
  let fd: number;
  try {
    fd = openSync(tmp, "wx", old ? old.mode & 0o7777 : 0o600);
  } catch (err) {
    throw new TempError(`unable to create ${tmp}: ${describeSysError(err)}`);
  }
  try {
    if (old && process.geteuid?.() === 0) fchownSync(fd, old.uid, old.gid);
  } catch (err) {
    closeSync(fd);
    throw new TempError(`unable to chown ${tmp}: ${describeSysError(err)}`);
  }
  return { tmp, fd };
}

/** Writes `data` to `path` atomically and durably, through the descriptor that created the temporary file. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const { tmp, fd } = openPrivateTemp(path);
  try {
    try {
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw new TempError(`unable to write ${path}: ${describeSysError(err)}`);
  }
  fsyncDirectory(dirname(path));
}

/**
 * The UIDL map of a Maildir, `poppin-uidls`: one line "UNIQUE UIDL" per message whose
 * UIDL is not its file name, written by `poppin convert mbox` so that pop3d on the
 * Maildir shows the UIDLs clients saw on the spool (and downloads nothing twice).
 * UNIQUE is the file name up to ':' (qmail-pop3d's UIDL); a later line wins; lines for
 * files that no longer exist are ignored.
 */
import { closeSync, fsyncSync, readFileSync, writeSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { TempError, describeSysError } from "../base/errors.ts";
import { effectiveUid, openOwnedAppend, openOwnedFile } from "../sys/owned_file.ts";

export const UIDL_MAP_NAME = "poppin-uidls";

/**
 * Reads DIR/poppin-uidls; an empty map when there is none. Only a regular file of ours
 * (or root's) is read, never through a symbolic link (hard links, as backups make, are fine): the map decides which UIDLs clients see.
 */
export function readUidlMap(dir: string): Map<string, string> {
  const path = join(dir, UIDL_MAP_NAME);
  let text: string;
  try {
    const { fd } = openOwnedFile(path, "read", [...new Set([effectiveUid(), 0])], { anyLinks: true });
    try {
      text = readFileSync(fd, "latin1");
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return new Map();
    if (e instanceof TempError) throw e;
    throw new TempError(`unable to read ${path}: ${describeSysError(e)}`);
  }
  const map = new Map<string, string>();
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space <= 0 || space === line.length - 1) continue; // an empty or torn last line
    map.set(line.slice(0, space), line.slice(space + 1));
  }
  return map;
}

/** Appends lines to DIR/poppin-uidls (a regular file of ours, never through a link) and fsyncs it. */
export function appendUidlMap(dir: string, entries: readonly (readonly [string, string])[]): void {
  if (entries.length === 0) return;
  const path = join(dir, UIDL_MAP_NAME);
  let fd: number;
  try {
    fd = openOwnedAppend(path, 0o600, effectiveUid());
  } catch (e) {
    if (e instanceof TempError) throw e;
    throw new TempError(`unable to open ${path}: ${describeSysError(e)}`);
  }
  try {
    const bytes = Buffer.from(entries.map(([u, id]) => `${u} ${id}\n`).join(""), "latin1");
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The UIDL map of a Maildir, `poppin-uidls`: one line "UNIQUE UIDL" per message whose
 * UIDL is not its file name, written by `poppin convert mbox` so that pop3d on the
 * Maildir shows the UIDLs clients saw on the spool (and downloads nothing twice).
 * UNIQUE is the file name up to ':' (qmail-pop3d's UIDL); a later line wins; lines for
 * files that no longer exist are ignored.
 */
import { closeSync, openSync, readFileSync, writeSync, fsyncSync } from "node:fs";
import { join } from "node:path";
import { TempError, describeSysError } from "../cli/errors.ts";

export const UIDL_MAP_NAME = "poppin-uidls";

/** Reads DIR/poppin-uidls; an empty map when there is none. */
export function readUidlMap(dir: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(join(dir, UIDL_MAP_NAME), "latin1");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return new Map();
    throw new TempError(`unable to read ${join(dir, UIDL_MAP_NAME)}: ${describeSysError(e)}`);
  }
  const map = new Map<string, string>();
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space <= 0 || space === line.length - 1) continue; // an empty or torn last line
    map.set(line.slice(0, space), line.slice(space + 1));
  }
  return map;
}

/** Appends lines to DIR/poppin-uidls and fsyncs it. */
export function appendUidlMap(dir: string, entries: readonly (readonly [string, string])[]): void {
  if (entries.length === 0) return;
  const fd = openSync(join(dir, UIDL_MAP_NAME), "a", 0o600);
  try {
    const bytes = Buffer.from(entries.map(([u, id]) => `${u} ${id}\n`).join(""), "latin1");
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

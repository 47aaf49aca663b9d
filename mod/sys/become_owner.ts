/**
 * Root acting on a user's files does it as that user: a one-shot applet run by root on a
 * mailbox (convert, deliver, maildirmake) switches the whole process to the owner's
 * groups, gid and uid before it opens or creates anything there, as qmail-local runs
 * as the recipient. The switch (switch_ids.ts) applies to every thread and cannot be undone, which is
 * what a one-shot applet wants: nothing it does afterwards has more rights than the owner.
 */
import { lstatSync, realpathSync, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { TempError, describeSysError } from "../base/errors.ts";
import { getpwuid } from "./libc.ts";
import { switchIds } from "./switch_ids.ts";

export interface FileOwner {
  uid: number;
  gid: number;
  /** The account name (for initgroups) and home, when the uid has a passwd entry. */
  name?: string;
  home?: string;
}

/**
 * The account owning uid `uid`; `fileGid` (the file's group) when the uid has no passwd
 * entry, unless that group is root's: a process of the owner's running in group 0 would reach
 * what root's group may (group-writable files of root's), which no account of that uid has.
 */
export function fileOwner(uid: number, fileGid: number): FileOwner {
  let pw;
  try {
    pw = getpwuid(uid);
  } catch (e) {
    throw new TempError(`unable to look up uid ${uid}: ${describeSysError(e)}`);
  }
  if (pw === undefined) {
    if (fileGid === 0) throw new TempError(`uid ${uid} has no account and the file's group is root's: root does not act as uid ${uid} in group 0; chgrp it to the mail group`);
    return { uid, gid: fileGid };
  }
  return { uid, gid: pw.gid, name: pw.name, home: pw.dir };
}

/** Switches this process to `owner` (groups, gid, uid; switch_ids.ts checks it took); for root only. Throws TempError. */
export function becomeOwner(owner: FileOwner): void {
  try {
    switchIds({ uid: owner.uid, gid: owner.gid, groups: owner.name !== undefined ? { initgroupsFor: owner.name } : { list: [owner.gid] } });
  } catch (e) {
    throw new TempError(`unable to switch to uid ${owner.uid} gid ${owner.gid}: ${describeSysError(e)}`);
  }
}

/**
 * Throws when directory `dir` (stat `st`), on the way to root's own `path`, may have its
 * entries renamed by someone other than root: writable by others, or by a group other than
 * root's, without the sticky bit (with it, only an entry's owner may rename it).
 */
function refuseSharedDirectory(path: string, dir: string, st: Stats): void {
  if (!st.isDirectory() || (st.mode & 0o1000) !== 0) return;
  const who = (st.mode & 0o002) !== 0 ? "others" : (st.mode & 0o020) !== 0 && st.gid !== 0 ? `group ${st.gid}` : undefined;
  if (who === undefined) return;
  const where = dir === path ? "" : `, ${dir} on its path,`;
  throw new TempError(`${path} belongs to root but${where} is writable by ${who} without the sticky bit: they could swap it while root works there: chmod go-w ${dir}, or run this as the mailbox's owner`);
}

/**
 * As root, becomes the owner of `path` (seen by lstat: a link's own owner, so a link a user
 * made never lends root's rights to its target) unless that owner is root; as anyone else,
 * does nothing. `kind` is what path must be: a directory (never a link to one) or a
 * file; a root-owned file must have one link (not a hard link a user made to a file of
 * root's). Returns the owner switched to, or undefined when nothing changed (root's own,
 * or, for "directory", no directory at all: the caller's check reports that).
 * Throws TempError (cannot look or switch), or the lstat error (ENOENT ...).
 */
export function becomeOwnerOf(path: string, kind: "file" | "directory"): FileOwner | undefined {
  if ((process.geteuid?.() ?? 1) !== 0) return undefined;
  const st = lstatSync(path);
  if (kind === "directory" && st.isSymbolicLink()) throw new TempError(`${path} is a symbolic link: give the real directory (root follows no link a user may have made)`);
  // Not a directory: nothing to create there; the caller's own check says what it is.
  if (kind === "directory" && !st.isDirectory()) return undefined;
  if (st.uid === 0) {
    if (kind === "file" && (st.isSymbolicLink() || !st.isFile() || st.nlink !== 1)) throw new TempError(`${path} is ${st.isSymbolicLink() ? "a symbolic link" : st.isFile() ? "a file with several links" : "not a regular file"}`);
    // Root's own file in a directory a user owns: that user could swap it (or a directory on
    // the way) for a link between our check and our use. Say how to fix it instead. Every
    // directory up to / counts: a root directory inside a user's home can be renamed away
    // and replaced by a link just the same.
    const parent = statSync(dirname(resolve(path)));
    if (parent.uid !== 0) throw new TempError(`${path} belongs to root but is in a directory of uid ${parent.uid}: chown it to that user`);
    // Likewise a root directory that others may write in without the sticky bit (a group's
    // shared directory, root:vmail 2775): they may rename root's entries in it and put a
    // tree of theirs in the place, while root is working there.
    if (kind === "directory") refuseSharedDirectory(path, path, st);
    refuseSharedDirectory(path, dirname(resolve(path)), parent);
    for (let dir = dirname(realpathSync(dirname(resolve(path)))); ; dir = dirname(dir)) {
      const st = lstatSync(dir);
      if (st.uid !== 0) throw new TempError(`${path} belongs to root but ${dir} on its path belongs to uid ${st.uid}: move it, or chown it to that user`);
      refuseSharedDirectory(path, dir, st);
      if (dir === dirname(dir)) break;
    }
    return undefined;
  }
  const owner = fileOwner(st.uid, st.gid);
  becomeOwner(owner);
  return owner;
}

/**
 * Root about to write its own mail at `path` (a Maildir that `convert` makes or fills for a
 * spool of root's): the path must be root's all the way, as for a root-owned target of
 * becomeOwnerOf: no link on it that root did not make, every directory up to / root's and
 * not open to others without the sticky bit. Otherwise a user owning a directory on the way
 * could rename the Maildir while root writes and have root create files where they choose.
 * Does nothing unless root; a target that exists but is not root's is left to the caller's
 * own check. Throws TempError.
 */
export function checkRootDestination(path: string): void {
  if ((process.geteuid?.() ?? 1) !== 0) return;
  const full = resolve(path);
  let target;
  try {
    target = lstatSync(full);
  } catch {
    target = undefined;
  }
  if (target?.isSymbolicLink()) throw new TempError(`${path} is a symbolic link: give the real directory (root follows no link a user may have made)`);
  if (target !== undefined && target.uid !== 0) return;
  // Links on the path as given: only root's.
  const parts = full.split("/").filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join("/")}`;
    const st = lstatSync(prefix);
    if (st.isSymbolicLink() && st.uid !== 0) throw new TempError(`${path}: ${prefix} on its path is a symbolic link of uid ${st.uid}: give the real path`);
  }
  if (target !== undefined) refuseSharedDirectory(path, full, target);
  for (let dir = realpathSync(dirname(full)); ; dir = dirname(dir)) {
    const st = lstatSync(dir);
    if (st.uid !== 0) throw new TempError(`${path} would be root's but ${dir} on its path belongs to uid ${st.uid}: run this as that user, or choose a directory of root's`);
    refuseSharedDirectory(path, dir, st);
    if (dir === dirname(dir)) break;
  }
}

/**
 * Applying a rewrite plan to a locked spool, crash-safe either way:
 * - "rename" (Qpopper's fast-update): the new spool is written beside the old one as
 *   `.NAME.poppin-new.PID`, with the old one's owner and mode, fsynced, renamed over it,
 *   and the directory fsynced; killed before the rename, the old spool is untouched.
 * - "inplace": for a directory we may not create files in (Debian's /var/mail is
 *   root:mail 2775): the spool is rewritten from the first changed octet through a
 *   journal kept in the temp directory (journal.ts).
 * "auto" renames when the directory lets us keep the spool's owner, else goes in place.
 */
import { closeSync, fchmodSync, fchownSync, fstatSync, fsyncSync, lstatSync, readSync, readdirSync, renameSync, unlinkSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "../sys/random.ts";
import { createExclusive, openDirectory } from "../sys/owned_file.ts";
import { journalPresent, recoverJournal, replayJournal, trustedOwners, writeAll, writeJournal } from "./journal.ts";
import { segmentsFrom, type RewritePlan, type Segment } from "./plan.ts";
import { sysErrorCode } from "../base/errors.ts";

export type UpdateMode = "auto" | "rename" | "inplace";

const CHUNK = 1 << 20;

/** The temporary name of a spool being written beside the old one. */
export function renameTempPrefix(spool: string): string {
  return `.${basename(spool)}.poppin-new.`;
}

/** The journal of an in-place rewrite of `spool` for user files kept in `journalDir`. */
export function journalPath(spool: string, journalDir: string): string {
  return join(journalDir, `.${basename(spool)}.poppin-journal`);
}

/**
 * Finishes an interrupted in-place rewrite of the spool open on `spoolFd` (called with it
 * locked): the journal in `tempDir`, or else one left in the spool's own directory, where
 * earlier versions kept it by default (recoverJournal trusts only the owner's journals).
 */
export function recoverRewrite(spool: string, tempDir: string, spoolFd: number): ReturnType<typeof recoverJournal> {
  const done = recoverJournal(journalPath(spool, tempDir), spoolFd);
  if ((done !== "none" && done !== "ignored") || resolve(tempDir) === resolve(dirname(spool))) return done;
  const legacy = recoverJournal(journalPath(spool, dirname(spool)), spoolFd);
  return legacy === "none" ? done : legacy;
}

/**
 * Whether a rewrite of `spool` is under way (or was interrupted): its journal or a new
 * spool beside it exists, made by the spool's owner (another user's file of that name
 * in a shared directory says nothing).
 */
export function rewriteUnderWay(spool: string, journal: string): boolean {
  let st: Stats;
  try {
    st = lstatSync(spool);
  } catch {
    return false;
  }
  if (journalPresent(journal, st)) return true;
  const owners = trustedOwners(st);
  try {
    return readdirSync(dirname(spool)).some((n) => {
      if (!n.startsWith(renameTempPrefix(spool))) return false;
      try {
        return owners.includes(lstatSync(join(dirname(spool), n)).uid);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Removes new spools left by a rename writer that was killed (called with the spool locked). */
export function removeStaleRenameTemps(spool: string): number {
  const prefix = renameTempPrefix(spool);
  let names: string[];
  try {
    names = readdirSync(dirname(spool)).filter((n) => n.startsWith(prefix));
  } catch {
    return 0;
  }
  let removed = 0;
  for (const n of names) {
    try {
      unlinkSync(join(dirname(spool), n));
      removed++;
    } catch { /* not ours to remove */ }
  }
  return removed;
}

function writeSegments(spoolFd: number, segments: readonly Segment[], write: (bytes: Uint8Array) => void): void {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const s of segments) {
    if (s.kind === "bytes") {
      write(s.bytes);
      continue;
    }
    for (let pos = s.from; pos < s.to;) {
      const n = Math.min(CHUNK, s.to - pos);
      const got = readSyncFull(spoolFd, buf, n, pos);
      write(buf.subarray(0, got));
      pos += got;
    }
  }
}

function readSyncFull(fd: number, buf: Buffer, n: number, pos: number): number {
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, pos + got);
    if (r === 0) throw new Error("spool shrank while it was being rewritten");
    got += r;
  }
  return got;
}

function fsyncDir(dir: string): void {
  const fd = openDirectory(dir);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Writes the new spool beside the old and renames it over. Returns false when the directory does not allow it. */
export function rewriteByRename(spool: string, spoolFd: number, plan: RewritePlan, st: Stats, mustSucceed: boolean): boolean {
  // A fresh name, created exclusively: never a file someone else left at a guessable name.
  const tmp = join(dirname(spool), `${renameTempPrefix(spool)}${process.pid}.${randomBytes(6).toString("hex")}`);
  let fd: number;
  try {
    fd = createExclusive(tmp, st.mode & 0o7777);
  } catch (e) {
    if (!mustSucceed && (sysErrorCode(e) === "EACCES" || sysErrorCode(e) === "EPERM" || sysErrorCode(e) === "EROFS")) return false;
    throw e;
  }
  try {
    try {
      fchownSync(fd, st.uid, st.gid);
      fchmodSync(fd, st.mode & 0o7777);
    } catch (e) {
      if (!mustSucceed && (sysErrorCode(e) === "EPERM" || sysErrorCode(e) === "EACCES")) {
        closeSync(fd);
        unlinkSync(tmp);
        return false;
      }
      throw e;
    }
    let pos = 0;
    writeSegments(spoolFd, plan.segments, (bytes) => {
      writeAll(fd, bytes, pos);
      pos += bytes.length;
    });
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try { closeSync(fd); } catch { /* closed */ }
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
  renameSync(tmp, spool);
  fsyncDir(dirname(spool));
  return true;
}

/** Rewrites the spool open read-write on `spoolFd` in place, through the journal at `journal`. */
export function rewriteInPlace(spoolFd: number, plan: RewritePlan, journal: string, onJournalReady?: () => void): void {
  const p = plan.firstChange;
  const n = plan.newLength - p;
  const e = Math.max(plan.oldLength, plan.newLength);
  const { dev, ino } = fstatSync(spoolFd);
  const j = writeJournal(journal, { p, n, e, dev, ino }, (write) => writeSegments(spoolFd, segmentsFrom(plan, p), write));
  onJournalReady?.();
  replayJournal(journal, j.fd, j.header, spoolFd);
}


/**
 * Housekeeping a POP3 session does on a Maildir: removing stale files from tmp/
 * (as qmail-pop3d's maildir_clean), deleting messages at QUIT, and moving a message
 * from new/ to cur/ (qmail-pop3d's QUIT for messages it listed from new/).
 */
import { readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "../base/posix_path.ts";
import { TempError, describeSysError } from "../base/errors.ts";
import { logValue } from "../base/log_value.ts";
import { curNameFor } from "./name.ts";

/** qmail-pop3d removes files in tmp/ not accessed for 36 hours (maildir.c: 129600 seconds). */
export const TMP_MAX_AGE_MS = 36 * 60 * 60 * 1000;

export interface TmpCleanupOptions {
  /** The current time in ms (default Date.now()); tests set it. */
  nowMs?: number;
  maxAgeMs?: number;
}

/**
 * Removes files in DIR/tmp whose last access is older than 36 hours, as qmail-pop3d does
 * at the start of every session. Best effort like qmail: a missing tmp/ or a file that
 * vanishes is not an error. Returns the names removed.
 */
export function maildirTmpCleanup(dir: string, opts: TmpCleanupOptions = {}): string[] {
  const now = opts.nowMs ?? Date.now();
  const maxAge = opts.maxAgeMs ?? TMP_MAX_AGE_MS;
  const tmp = join(dir, "tmp");
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (name[0] === ".") continue;
    const path = join(tmp, name);
    try {
      const st = statSync(path);
      if (!st.isFile() || now <= st.atimeMs + maxAge) continue;
      unlinkSync(path);
      removed.push(name);
    } catch {
      // Gone meanwhile, or not ours to remove: qmail ignores these too.
    }
  }
  return removed;
}

/** What happened to one deletion. */
export type DeleteOutcome = "deleted" | "already-gone";

/**
 * Unlinks one message file. A file that is already gone (another session deleted it)
 * counts as done; any other failure throws TempError naming the file.
 */
export function maildirDelete(path: string): DeleteOutcome {
  try {
    unlinkSync(path);
    return "deleted";
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return "already-gone";
    throw new TempError(`unable to unlink ${logValue(path)}: ${describeSysError(err)}`);
  }
}

export interface DeleteManyResult {
  deleted: string[];
  alreadyGone: string[];
  failed: { path: string; message: string }[];
}

/** Deletes every path (the messages marked at QUIT), going on after a failure, and reports each outcome. */
export function maildirDeleteMany(paths: readonly string[]): DeleteManyResult {
  const result: DeleteManyResult = { deleted: [], alreadyGone: [], failed: [] };
  for (const path of paths) {
    try {
      if (maildirDelete(path) === "deleted") result.deleted.push(path);
      else result.alreadyGone.push(path);
    } catch (err) {
      result.failed.push({ path, message: (err as Error).message });
    }
  }
  return result;
}

/**
 * Moves a message listed from DIR/new/NAME to DIR/cur/NAME:2, (qmail-pop3d's QUIT, "if it
 * fails, bummer"). Returns the new path, or undefined when the file was not in new/ or is gone.
 */
export function maildirMoveToCur(path: string): string | undefined {
  const sub = dirname(path);
  if (basename(sub) !== "new") return undefined;
  const target = join(dirname(sub), "cur", curNameFor(basename(path)));
  try {
    renameSync(path, target);
    return target;
  } catch {
    return undefined;
  }
}

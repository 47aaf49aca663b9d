/**
 * Listing a Maildir for a POP3 session: optionally move new/ into cur/ as qmail-pop3d
 * does, list the messages with their UIDL and both sizes, in delivery or qmail order.
 * The CRLF size comes from the name (`,W=`), the size cache, or one streaming read.
 */
import { readdirSync, renameSync, statSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { logValue } from "../base/log_value.ts";
import { crlfSizeOfFile } from "./crlf.ts";
import { type NameSizes, curNameFor, isValidMessageName, sizesFromName, uidlOf } from "./name.ts";
import { nameTimeMs, sortByDelivery, sortLikeQmail } from "./order.ts";
import { SizeCache } from "./size_cache.ts";

export interface MaildirEntry {
  /** File name now in cur/ (in new/ when moveNew is false or the move failed), e.g. "1700000000.M1P2.host,S=123,W=130:2,S". */
  name: string;
  /** Full path to the file. */
  path: string;
  /** Exactly qmail-pop3d's UIDL for this message: the file name cut at the first ':'. */
  uidl: string;
  /** Octets on disk (LF line ends). */
  fileSize: number;
  /** Octets as POP3 sends it: every bare LF counts as CRLF; dot-stuffing not counted (RFC 1939). */
  crlfSize: number;
  mtimeMs: number;
}

export interface ScanOptions {
  /** delivery: by the time/unique part of the name (default); qmail: as qmail-pop3d orders (mtime heap). */
  order?: "delivery" | "qmail";
  /** Move new/* into cur/ first, appending ":2," as qmail-pop3d does at QUIT (default true). */
  moveNew?: boolean;
  /** Use and update the size cache DIR/poppin-sizes (default true). */
  sizeCache?: boolean;
  /**
   * Believe a name carrying both `,S=` and `,W=` without a stat (as Dovecot does): much faster
   * on large Maildirs; mtimeMs is then the delivery time from the name. Ignored for qmail order,
   * which needs real mtimes. (default true)
   */
  trustNames?: boolean;
  /** Told about entries skipped (unreadable, bad names) and a cache that could not be written. */
  onWarning?: (message: string) => void;
}

function isGone(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function listDir(dir: string, sub: string): string[] {
  try {
    return readdirSync(join(dir, sub));
  } catch (err) {
    const why = describeSysError(err);
    // The log line a sysadmin reads when a user has no Maildir yet: say what makes one.
    if (isGone(err)) throw new PermError(`unable to scan ${join(dir, sub)}: ${why} (not a Maildir; maildirmake, run as the user, makes one)`);
    throw new TempError(`unable to scan ${join(dir, sub)}: ${why}`);
  }
}

/** Whether a directory entry could be a message (maildir(5): skip dot files; names must be usable paths). */
function usableName(name: string, dir: string, warn: (m: string) => void): boolean {
  if (name[0] === ".") return false;
  if (!isValidMessageName(name) || name.includes("\uFFFD")) {
    warn(`skipping ${logValue(join(dir, name))}: unusable file name`);
    return false;
  }
  return true;
}

/**
 * Moves every message of new/ into cur/ with ":2," appended; a message another session moved
 * first is skipped. Returns how many entries new/ had (0: it was empty when listed).
 */
export function maildirMoveNew(dir: string, onWarning: (m: string) => void = () => {}): number {
  const names = listDir(dir, "new");
  for (const name of names) {
    if (!usableName(name, join(dir, "new"), onWarning)) continue;
    const from = join(dir, "new", name);
    try {
      renameSync(from, join(dir, "cur", curNameFor(name)));
    } catch (err) {
      if (!isGone(err)) onWarning(`unable to move ${logValue(from)} to cur: ${describeSysError(err)}`);
    }
  }
  return names.length;
}

interface Found {
  name: string;
  path: string;
  mtimeMs: number;
  fileSize: number;
  sizes: NameSizes;
}

function collect(dir: string, sub: string, trustNames: boolean, warn: (m: string) => void, out: Found[]): void {
  const base = join(dir, sub);
  for (const name of listDir(dir, sub)) {
    if (!usableName(name, base, warn)) continue;
    const path = `${base}/${name}`;
    const sizes: NameSizes = name.includes(",") ? sizesFromName(name) : {};
    if (trustNames && sizes.fileSize !== undefined && sizes.crlfSize !== undefined) {
      const mtimeMs = nameTimeMs(name);
      if (mtimeMs !== undefined) {
        out.push({ name, path, mtimeMs, fileSize: sizes.fileSize, sizes });
        continue;
      }
    }
    let st;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch (err) {
      warn(`skipping ${logValue(path)}: unable to stat: ${describeSysError(err)}`);
      continue;
    }
    if (st === undefined) continue; // deleted meanwhile (or a dangling symlink): not a message
    if (!st.isFile()) {
      warn(`skipping ${logValue(path)}: not a regular file`);
      continue;
    }
    out.push({ name, path, mtimeMs: st.mtimeMs, fileSize: st.size, sizes });
  }
}

/**
 * Lists the messages of Maildir `dir`. Throws PermError when `dir` is not a Maildir
 * (missing cur/ or new/) and TempError when it cannot be read; skips, and reports through
 * `onWarning`, entries that cannot be used. A message deleted meanwhile is silently left out.
 */
/** Octets read at a time to count a message's CRLF size. */
const COUNT_BUFFER_OCTETS = 256 * 1024;
/**
 * The buffer messages are counted in, made at the first file that needs counting and kept (a
 * scan is synchronous): a scan whose sizes all come from names or the size cache, as a login's
 * usually are, allocates none (a zeroed 256 KB buffer per scan was a twentieth of an --inline login's CPU).
 */
let countBuffer: Uint8Array | undefined;

export function maildirScan(dir: string, opts: ScanOptions = {}): MaildirEntry[] {
  const warn = opts.onWarning ?? (() => {});
  const moveNew = opts.moveNew ?? true;
  // An empty new/ is not listed twice: a message delivered after the move's look is this
  // session's no more than one delivered after the listing below would be (qmail-pop3d
  // lists new/ once).
  const newEntries = moveNew ? maildirMoveNew(dir, warn) : -1;
  const found: Found[] = [];
  const trustNames = (opts.trustNames ?? true) && opts.order !== "qmail";
  // qmail-pop3d lists new/ before cur/ (its heap sees them in that order). After a move, new/
  // still holds what could not be moved or arrived since: list those too, from new/.
  const fromNew: Found[] = [];
  const fromCur: Found[] = [];
  if (newEntries !== 0) collect(dir, "new", trustNames, warn, fromNew);
  collect(dir, "cur", trustNames, warn, fromCur);
  if (fromNew.length > 0) {
    // A message another session moved while we listed shows up in both: keep the cur/ one.
    const inCur = new Set(fromCur.map((f) => uidlOf(f.name)));
    for (const f of fromNew) if (!inCur.has(uidlOf(f.name))) found.push(f);
  }
  for (const f of fromCur) found.push(f);
  const ordered = opts.order === "qmail" ? sortLikeQmail(found) : sortByDelivery(found);

  const cache = opts.sizeCache ?? true ? SizeCache.load(dir, warn) : undefined;
  const entries: MaildirEntry[] = [];
  for (const f of ordered) {
    const uidl = uidlOf(f.name);
    const sizes = f.sizes;
    let crlfSize: number | undefined;
    // Trust ,W= only while ,S= (when present) still matches the file: an edited file voids both.
    if (sizes.crlfSize !== undefined && (sizes.fileSize === undefined || sizes.fileSize === f.fileSize)) {
      crlfSize = sizes.crlfSize;
    } else {
      crlfSize = cache?.get(uidl, f.fileSize, f.mtimeMs);
      if (crlfSize === undefined) {
        try {
          const counted = crlfSizeOfFile(f.path, (countBuffer ??= new Uint8Array(COUNT_BUFFER_OCTETS)));
          if (counted.fileSize !== f.fileSize) {
            // Changed between stat and read: take what was read, do not cache a guess.
            f.fileSize = counted.fileSize;
          } else {
            cache?.set(uidl, f.fileSize, f.mtimeMs, counted.crlfSize);
          }
          crlfSize = counted.crlfSize;
        } catch (err) {
          if (!isGone(err)) warn(`skipping ${logValue(f.path)}: unable to read: ${describeSysError(err)}`);
          continue;
        }
      }
    }
    entries.push({ name: f.name, path: f.path, uidl, fileSize: f.fileSize, crlfSize, mtimeMs: f.mtimeMs });
  }
  cache?.save();
  return entries;
}

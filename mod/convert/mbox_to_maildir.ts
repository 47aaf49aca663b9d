/**
 * Moving an mbox spool into a Maildir without losing or doubling a message, and so
 * that pop3d shows the same UIDLs afterwards. With the spool locked throughout:
 *   1. scan the spool; skip messages already moved by an earlier, interrupted run (their
 *      UIDL is in the Maildir's UIDL map and their file exists);
 *   2. in batches: write each message to tmp/ and fsync it; append the batch's
 *      "name UIDL" lines to poppin-uidls and fsync it; rename the files into new/ or cur/
 *      (flags from Status:) and fsync those directories;
 *   3. only then rewrite the spool without the moved messages (crash-safe, write_spool.ts).
 * Killed anywhere, a second run finishes the job: files in tmp/ are never counted,
 * map lines without a file are ignored, and the spool keeps what was not yet durable.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { TempError, describeSysError } from "../base/errors.ts";
import { maildirMake } from "../maildir/make.ts";
import { clockNow, uidlOf, uniqueName, withSizes, type NameClock } from "../maildir/name.ts";
import { appendUidlMap, readUidlMap } from "../maildir/uidl_map.ts";
import { copyRange } from "../mbox/journal.ts";
import { visibleRanges } from "../mbox/hidden.ts";
import type { MboxMessage } from "../mbox/message.ts";
import { planIsNoop, planRewrite } from "../mbox/plan.ts";
import { scanMbox } from "../mbox/scan.ts";
import { isFolderInternalData } from "../mbox/folder_data.ts";
import { dovecotSpoolUidls } from "../mbox/uid_validity.ts";
import { lockSpool, type SpoolLockOptions } from "../mbox/spool_lock.ts";
import { journalPath, recoverRewrite, removeStaleRenameTemps, rewriteByRename, rewriteInPlace, type UpdateMode } from "../mbox/write_spool.ts";
import { checkRealDirectory, effectiveUid, openDirectory, openOwnedFile } from "../sys/owned_file.ts";
import { openSpoolFile } from "../mbox/spool_file.ts";
import { placementFor } from "./flags.ts";

export interface ConvertProgress {
  messages: number;
  totalMessages: number;
  octets: number;
  totalOctets: number;
  elapsedMs: number;
}

export interface ConvertOptions {
  spool: string;
  maildir: string;
  /** Leave the spool as it is (a trial run; the Maildir still gets the UIDL map). */
  keep?: boolean;
  update?: UpdateMode;
  tempDir: string;
  lock: Omit<SpoolLockOptions, "failFastWhen">;
  onProgress?: (p: ConvertProgress) => void;
  host?: string;
  now?: () => NameClock;
  /** Messages per durable batch. */
  batch?: number;
  /** pop3d's --uidl-format: the map keeps the UIDLs Dovecot showed for a spool it served (mod/mbox/uid_validity.ts). */
  uidlFormat?: string;
  uidValidityFile?: string;
}

export interface ConvertResult {
  /** Messages in the spool when it was read. */
  total: number;
  /** Messages copied by this run. */
  converted: number;
  /** Messages found already copied by an earlier run. */
  alreadyThere: number;
  /** Messages taken out of the spool. */
  removedFromSpool: number;
  octets: number;
}

const DEFAULT_BATCH = 256;

function fsyncDir(dir: string): void {
  const fd = openDirectory(dir);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Makes the Maildir, or checks the one there: tmp/, new/ and cur/ must be directories
 * themselves, not links (files are created and renamed in them), and owned by us when we
 * are root (root converting its own spool).
 */
function ensureMaildir(dir: string): void {
  if (!existsSync(dir)) {
    maildirMake(dir);
    return;
  }
  const euid = effectiveUid();
  if (euid === 0) checkRealDirectory(dir, 0);
  for (const sub of ["tmp", "new", "cur"]) {
    if (!existsSync(join(dir, sub))) throw new TempError(`${dir} is not a Maildir: ${sub}/ is missing`);
    checkRealDirectory(join(dir, sub), euid === 0 ? 0 : undefined);
  }
}

/**
 * Opens the spool: a regular file of ours (root converts only root's own; run by root on a
 * user's spool, convert has become that user), never through a link as root.
 */
function openSpoolChecked(spool: string, keep: boolean): number {
  if (effectiveUid() === 0) return openOwnedFile(spool, keep ? "read" : "readwrite", [0]).fd;
  return openSpoolFile(spool, keep ? "read" : "readwrite");
}

/** Unique names whose files are in new/ or cur/. */
function presentNames(dir: string): Set<string> {
  const present = new Set<string>();
  for (const sub of ["new", "cur"]) for (const name of readdirSync(join(dir, sub))) present.add(uidlOf(name));
  return present;
}

/** Strictly increasing name clocks, so delivery order (by name) keeps spool order. */
function clockSequence(now: () => NameClock): () => NameClock {
  let last = -1;
  return () => {
    const c = now();
    let t = c.sec * 1_000_000 + c.usec;
    if (t <= last) t = last + 1;
    last = t;
    return { sec: Math.floor(t / 1_000_000), usec: t % 1_000_000 };
  };
}

export function convertMboxToMaildir(opts: ConvertOptions): ConvertResult {
  const started = Date.now();
  ensureMaildir(opts.maildir);
  const keep = opts.keep ?? false;
  let fd: number;
  try {
    fd = openSpoolChecked(opts.spool, keep);
  } catch (e) {
    if (e instanceof TempError) throw e;
    throw new TempError(`unable to open ${opts.spool}: ${describeSysError(e)}`);
  }
  try {
    const lock = lockSpool(opts.spool, fd, keep ? "read" : "write", opts.lock);
    try {
      if (!keep) {
        recoverRewrite(opts.spool, opts.tempDir, fd);
        removeStaleRenameTemps(opts.spool);
      }
      const size = fstatSync(fd).size;
      const { messages } = scanMbox(fd, size, opts.spool);
      // UW IMAP's folder data is no mail (POP3 never lists it): not copied, and kept in the spool.
      const mail = messages[0] !== undefined && isFolderInternalData(fd, messages[0]) ? messages.slice(1) : messages;
      return convertLocked(fd, size, messages, mail, opts, keep, started);
    } finally {
      lock.release();
    }
  } finally {
    closeSync(fd);
  }
}

/** Copies `mail` (the messages POP3 lists) into the Maildir, then rewrites the spool's `all` without them. */
function convertLocked(fd: number, size: number, all: readonly MboxMessage[], messages: readonly MboxMessage[], opts: ConvertOptions, keep: boolean, started: number): ConvertResult {
  const dir = opts.maildir;
  // The UIDL a client saw for each message: the one the map keeps.
  const dovecot = opts.uidlFormat === undefined ? undefined : dovecotSpoolUidls(all, opts.uidlFormat, opts.uidValidityFile);
  const shownUidl = (m: MboxMessage) => dovecot?.(m) ?? m.uidl;
  const map = readUidlMap(dir);
  const present = presentNames(dir);
  const done = new Set<string>();
  for (const [unique, uidl] of map) if (present.has(unique)) done.add(uidl);
  // The message as POP3 serves it: the mailbox's own fields (Status:, X-UID ...; hidden.ts) stay behind, their flags go into the name.
  const visible = (m: (typeof messages)[number]) => visibleRanges(m.start, m.end, m.hiddenFields);
  const visibleLength = (m: (typeof messages)[number]) => visible(m).reduce((t, [a, b]) => t + b - a, 0);
  const totalOctets = messages.reduce((t, m) => t + visibleLength(m), 0);
  const next = clockSequence(opts.now ?? clockNow);
  const host = opts.host ?? hostname();
  const buf = Buffer.allocUnsafe(1 << 20);
  const batchSize = opts.batch ?? DEFAULT_BATCH;
  let pending: { name: string; sub: "new" | "cur"; info: string; uidl: string }[] = [];
  let converted = 0;
  let alreadyThere = 0;
  let octets = 0;
  const flush = () => {
    if (pending.length === 0) return;
    appendUidlMap(dir, pending.map((p) => [p.name, p.uidl] as const));
    for (const p of pending) renameSync(join(dir, "tmp", p.name), join(dir, p.sub, p.name + p.info));
    for (const sub of new Set(pending.map((p) => p.sub))) fsyncDir(join(dir, sub));
    for (const p of pending) done.add(p.uidl);
    pending = [];
  };
  const progress = (count: number) => opts.onProgress?.({ messages: count, totalMessages: messages.length, octets, totalOctets, elapsedMs: Date.now() - started });
  messages.forEach((m, i) => {
    const length = visibleLength(m);
    if (done.has(shownUidl(m))) {
      alreadyThere++;
    } else {
      const name = withSizes(uniqueName(next(), process.pid, host), length, m.crlfSize);
      const path = join(dir, "tmp", name);
      const out = openSync(path, "wx", 0o600);
      try {
        let at = 0;
        for (const [a, b] of visible(m)) {
          copyRange(fd, a, out, at, b - a, buf);
          at += b - a;
        }
        fsyncSync(out);
      } catch (e) {
        closeSync(out);
        try { unlinkSync(path); } catch { /* gone */ }
        throw new TempError(`unable to write ${path}: ${e instanceof TempError ? e.message : describeSysError(e)}`);
      }
      closeSync(out);
      const place = placementFor(m.status, m.xStatus);
      pending.push({ name, sub: place.sub, info: place.info, uidl: shownUidl(m) });
      converted++;
      if (pending.length >= batchSize) flush();
    }
    octets += length;
    progress(i + 1);
  });
  flush();
  let removedFromSpool = 0;
  if (!keep) {
    // The plan leaves out messages by their spool UIDL.
    const moved = new Set(all.filter((m) => done.has(shownUidl(m))).map((m) => m.uidl));
    const plan = planRewrite(all, size, moved, new Set(), false);
    if (!planIsNoop(plan)) {
      const renamed = (opts.update ?? "auto") !== "inplace" && rewriteByRename(opts.spool, fd, plan, fstatSync(fd), opts.update === "rename");
      if (!renamed) rewriteInPlace(fd, plan, journalPath(opts.spool, opts.tempDir));
    }
    removedFromSpool = plan.removed;
  }
  return { total: messages.length, converted, alreadyThere, removedFromSpool, octets };
}

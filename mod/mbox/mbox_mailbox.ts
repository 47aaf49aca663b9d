/**
 * The mbox backend of the POP3 engine (Qpopper's way of serving /var/mail/USER, made
 * safe): at the start the spool is locked, an interrupted rewrite finished, the spool
 * scanned and unlocked again; messages are served from the open spool with no lock
 * held; at QUIT it is locked again, scanned again if anything changed (mail delivered
 * meanwhile, another session), and rewritten without the deleted messages and with
 * `Status: RO` on the retrieved ones, matched by UIDL so nothing else is touched.
 */
import { accessSync, closeSync, constants, fstatSync, readSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { TempError, describeSysError, sysErrorCode } from "../base/errors.ts";
import type { Mailbox, MessageReader, RemoveResult } from "../pop3/mailbox.ts";
import type { MessageInfo } from "../pop3/transaction.ts";
import type { MboxMessage } from "./message.ts";
import { planIsNoop, planRewrite } from "./plan.ts";
import { saveScanCache, scanCachePath, scanWithCache } from "./scan_cache.ts";
import { openSpoolFile } from "./spool_file.ts";
import { lockSpool, SpoolBusy, type SpoolLock, type SpoolLockOptions } from "./spool_lock.ts";
import { journalPath, recoverRewrite, removeStaleRenameTemps, rewriteUnderWay, rewriteByRename, rewriteInPlace, type UpdateMode } from "./write_spool.ts";
import { rfcUidls } from "../pop3/uidl.ts";
import { isFolderInternalData } from "./folder_data.ts";
import { dovecotSpoolUidls } from "./uid_validity.ts";

export interface MboxMailboxOptions {
  /** The spool file. */
  spool: string;
  /** Where in-place rewrites keep their journal (Qpopper's temp-dir). */
  tempDir: string;
  lock: Omit<SpoolLockOptions, "failFastWhen">;
  update: UpdateMode;
  /** Qpopper's update-status-headers (default true). */
  statusUpdate: boolean;
  /** Keep the scan in a cache file in tempDir (scan_cache.ts; default true). */
  cache?: boolean;
  /**
   * Dovecot's pop3_uidl_format: a message with Dovecot's X-UID field, in a spool whose first
   * message carries X-IMAPbase, is listed under the UIDL Dovecot showed; the others under
   * poppin's own. The spool is then scanned at every session (the scan cache keeps no X-UID).
   */
  uidlFormat?: string;
  /** Where --uidl-format remembers the spool's UIDVALIDITY (uid_validity.ts); undefined: not remembered. */
  uidValidityFile?: string;
  onWarning?: (message: string) => void;
  /** Test hook: called once the journal of an in-place rewrite is ready, before the spool is touched. */
  onJournalReady?: () => void;
}

export { SpoolBusy };

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** The CRLF size of m's Status: field as stored (octets plus one per bare LF). */
function fieldCrlfSize(fd: number, m: MboxMessage): number {
  if (!m.statusField) return 0;
  const [from, to] = m.statusField;
  const bytes = Buffer.alloc(to - from);
  const n = readSync(fd, bytes, 0, bytes.length, from);
  let size = n;
  for (let i = 0; i < n; i++) if (bytes[i] === 10 && (i === 0 || bytes[i - 1] !== 13)) size++;
  return size;
}

/**
 * Reads [from, to) of the spool, leaving out the hidden ranges (relative to `from`, in order).
 * Once it is sent, `intact` tells whether the message is still where it was: no lock is held
 * while a message is sent, and another session's (or a mail reader's) rewrite in place moves
 * the bytes under the reader; a message read across such a rewrite is a mix of two, and must
 * not be ended as if it were whole.
 */
class RangeReader implements MessageReader {
  #pos: number;
  #skip = 0;
  constructor(private readonly fd: number, private readonly from: number, private readonly to: number, private readonly hidden: readonly (readonly [number, number])[] = [],
    readonly intact: () => boolean = () => true) {
    this.#pos = from;
  }
  read(buf: Uint8Array): number {
    let stop = this.to;
    while (this.#skip < this.hidden.length) {
      const [a, b] = this.hidden[this.#skip]!;
      if (this.#pos >= this.from + b) { this.#skip++; continue; }
      if (this.#pos >= this.from + a) { this.#pos = this.from + b; this.#skip++; continue; }
      stop = Math.min(stop, this.from + a);
      break;
    }
    const want = Math.min(buf.length, stop - this.#pos);
    if (want <= 0) return 0;
    const n = readSync(this.fd, buf, 0, want, this.#pos);
    this.#pos += n;
    return n;
  }
  close(): void { /* the spool stays open for the session */ }
}

/** Opens the spool read-write when we may (needed for kernel write locks and recovery), else read-only. */
function openSpool(path: string): { fd: number; writable: boolean } | undefined {
  try {
    return { fd: openSpoolFile(path, "readwrite"), writable: true };
  } catch (e) {
    if (sysErrorCode(e) === "ENOENT") return undefined;
    if (sysErrorCode(e) !== "EACCES" && sysErrorCode(e) !== "EROFS") throw e;
  }
  return { fd: openSpoolFile(path, "read"), writable: false };
}

export class MboxMailbox implements Mailbox {
  readonly messages: readonly MessageInfo[];
  readonly #opts: MboxMailboxOptions;
  readonly #records: readonly MboxMessage[];
  /** The records POP3 lists (all but UW IMAP's folder data, folder_data.ts): message n is #listed[n - 1]. */
  readonly #listed: readonly MboxMessage[];
  readonly #fd: number | undefined;
  readonly #stat: Stats | undefined;
  readonly #retrieved = new Set<number>();
  /** What happened to an interrupted rewrite found at the start ("none" mostly). */
  readonly recovery: string;

  /** Locks, recovers, scans, unlocks. Throws SpoolBusy ([IN-USE]), PermError (not an mbox) or TempError. */
  constructor(opts: MboxMailboxOptions) {
    this.#opts = opts;
    const opened = wrap(`unable to open ${opts.spool}`, () => openSpool(opts.spool));
    if (opened === undefined) {
      // No spool yet: an empty mailbox, as Qpopper serves it.
      this.#records = [];
      this.#listed = [];
      this.messages = [];
      this.recovery = "none";
      return;
    }
    this.#fd = opened.fd;
    const lock = this.#lock(opened.fd, opened.writable ? "write" : "read", true);
    try {
      this.recovery = opened.writable ? wrap("unable to recover an interrupted rewrite", () => recoverRewrite(opts.spool, opts.tempDir, opened.fd)) : "none";
      if (this.recovery === "ignored") opts.onWarning?.(`ignoring a rewrite journal of ${opts.spool} that its owner did not make`);
      if (opened.writable) removeStaleRenameTemps(opts.spool);
      this.#stat = fstatSync(opened.fd);
      this.#records = wrap(`unable to read ${opts.spool}`, () => scanWithCache(opened.fd, this.#stat!, opts.spool, this.#cachePath()).messages);
    } finally {
      lock.release();
    }
    const first = this.#records[0];
    this.#listed = first !== undefined && isFolderInternalData(opened.fd, first) ? this.#records.slice(1) : this.#records;
    // The scan keeps X-UIDL values only when valid; a cached or allocated one is checked here once more (mod/pop3/uidl.ts).
    const dovecot = opts.uidlFormat === undefined ? undefined : dovecotSpoolUidls(this.#records, opts.uidlFormat, opts.uidValidityFile, opts.onWarning);
    const wanted = (m: MboxMessage) => dovecot?.(m) ?? m.uidl;
    const shown = rfcUidls(this.#listed.map((m) => ({ wanted: wanted(m), keys: [m.derivedUidl, `${m.derivedUidl}\0${m.uidl}`] })));
    this.messages = this.#listed.map((m, i) => ({ size: m.crlfSize, uidl: shown[i]! }));
  }

  #cachePath(): string | undefined {
    return this.#opts.cache === false || this.#opts.uidlFormat !== undefined ? undefined : scanCachePath(this.#opts.spool, this.#opts.tempDir);
  }

  #lock(fd: number, mode: "read" | "write", failFast: boolean): SpoolLock {
    const rewriting = () => rewriteUnderWay(this.#opts.spool, journalPath(this.#opts.spool, this.#opts.tempDir));
    return lockSpool(this.#opts.spool, fd, mode, { ...this.#opts.lock, failFastWhen: failFast ? rewriting : undefined });
  }

  /** Whether message `m` is still where the scan found it: its From_ line at its offset, the next From_ line (or the end) after it. */
  #inPlace(m: MboxMessage): boolean {
    const fd = this.#fd!;
    const size = fstatSync(fd).size;
    const probe = Buffer.alloc(m.fromLine.length);
    const here = readSync(fd, probe, 0, probe.length, m.fromOffset) === probe.length && probe.equals(m.fromLine);
    let nextOk = m.next === size;
    if (!nextOk && m.next < size) {
      const five = Buffer.alloc(5);
      nextOk = readSync(fd, five, 0, 5, m.next) === 5 && five.toString("latin1") === "From ";
    }
    return here && nextOk;
  }

  /** Opens message `index`, after checking it is still where the scan found it (another session may have rewritten the spool); checked again at its end. */
  open(index: number): MessageReader {
    const m = this.#listed[index]!;
    if (!this.#inPlace(m)) throw Object.assign(new Error("the spool changed under the session"), { code: "ENOENT" });
    return new RangeReader(this.#fd!, m.start, m.end, m.hiddenFields, () => this.#inPlace(m));
  }

  retrieved(index: number): void {
    this.#retrieved.add(index);
  }

  remove(indices: readonly number[]): RemoveResult {
    const deleted = new Set(indices.map((i) => this.#listed[i]!.uidl));
    const seen = new Set([...this.#retrieved].map((i) => this.#listed[i]!.uidl));
    if (this.#fd === undefined || (deleted.size === 0 && (seen.size === 0 || !this.#opts.statusUpdate))) return { removed: 0, unremoved: 0, problems: [] };
    try {
      return this.#update(deleted, seen);
    } catch (e) {
      const why = e instanceof SpoolBusy ? `${e.message}` : e instanceof TempError ? e.message : describeSysError(e);
      return { removed: 0, unremoved: indices.length, problems: [`unable to update ${this.#opts.spool}: ${why}`] };
    }
  }

  #update(deleted: Set<string>, seen: Set<string>): RemoveResult {
    const spool = this.#opts.spool;
    const opened = openSpool(spool);
    if (opened === undefined) return { removed: deleted.size, unremoved: 0, problems: [] };
    if (!opened.writable) {
      closeSync(opened.fd);
      throw new TempError("the spool is not writable");
    }
    const fd = opened.fd;
    try {
      const lock = this.#lock(fd, "write", false);
      try {
        recoverRewrite(spool, this.#opts.tempDir, fd);
        const st = fstatSync(fd);
        const records = this.#stat && sameFile(st, this.#stat) ? this.#records : scanWithCache(fd, st, spool, this.#cachePath()).messages;
        const plan = planRewrite(records, st.size, deleted, this.#opts.statusUpdate ? seen : new Set(), this.#opts.statusUpdate, (m) => fieldCrlfSize(fd, m));
        if (planIsNoop(plan)) return { removed: deleted.size, unremoved: 0, problems: [] };
        const mode = this.#opts.update;
        const renamed = mode !== "inplace" && rewriteByRename(spool, fd, plan, st, mode === "rename");
        if (!renamed) rewriteInPlace(fd, plan, journalPath(spool, this.#opts.tempDir), this.#opts.onJournalReady);
        // The next session need not read the new spool: keep its scan (still under the lock).
        const cache = this.#cachePath();
        if (cache !== undefined && plan.after !== undefined) saveScanCache(cache, renamed ? statSync(spool) : fstatSync(fd), plan.after);
        // Messages not found were removed by another session: gone all the same.
        return { removed: deleted.size, unremoved: 0, problems: [] };
      } finally {
        lock.release();
      }
    } finally {
      closeSync(fd);
    }
  }
}

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error && (e.name === "PermError" || e.name === "TempError" || e instanceof SpoolBusy)) throw e;
    throw new TempError(`${what}: ${describeSysError(e)}`);
  }
}

/**
 * Qpopper's temp-dir default: the spool's directory when we may create files there and
 * nobody else may (a home directory), else $HOME. A directory other users can write in
 * (a sticky /var/mail, Debian's group-writable one) never holds the journal and cache:
 * a file another user made there under the expected name could only be refused.
 */
export function defaultTempDir(spool: string, home: string | undefined): string {
  const dir = dirname(spool);
  try {
    accessSync(dir, constants.W_OK);
    const st = statSync(dir);
    if ((st.mode & 0o022) === 0 && st.uid === (process.geteuid?.() ?? st.uid)) return dir;
  } catch {
    // not writable for us: $HOME
  }
  return home ?? dir;
}

/**
 * The Maildir backend of the POP3 engine, on mod/maildir's scan and delete helpers.
 * Default: sizes as sent (CRLF) and delivery order; "qmail" compatibility: qmail-pop3d's
 * file sizes (LF) and order (mtime heap). UIDLs are qmail-pop3d's in both.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, dirname, join } from "../base/posix_path.ts";
import { maildirDeleteMany } from "../maildir/clean.ts";
import { uidlOf } from "../maildir/name.ts";
import { recordQuotaRemoval } from "../maildir/quota.ts";
import { maildirScan, type MaildirEntry } from "../maildir/scan.ts";
import { readUidlMap } from "../maildir/uidl_map.ts";
import type { Mailbox, MessageReader, RemoveResult } from "./mailbox.ts";
import type { MessageInfo } from "./transaction.ts";
import { rfcUidls } from "./uidl.ts";

export type Compat = "rfc" | "qmail";

export interface MaildirMailboxOptions {
  compat?: Compat;
  /** Use and update the Maildir's size cache (default true). */
  sizeCache?: boolean;
  onWarning?: (message: string) => void;
  /** The listing function (default maildirScan); serve --inline passes one that remembers big listings. */
  scan?: typeof maildirScan;
}

/**
 * Opening a message never follows a symlink (one in a Maildir could point anywhere the user
 * may read: ELOOP) and never waits on a FIFO or device (O_NONBLOCK, then only a regular file
 * is served); a listing trusts ,S=,W= names without a stat, so this is where it is checked.
 */
const OPEN_MESSAGE = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

/**
 * A delivered message never changes (Maildir), and the listing knows its size: the first read
 * asks for one octet more than that, and a file that gives exactly the listed size has ended,
 * without an fstat(2) or another read (two system calls less per message than fstat-then-read:
 * a 4 KB RETR is open, pread, close). Anything else is checked before a byte of it is sent:
 * reads are positional (pread(2)), so a FIFO (or socket) put in the message's place after the
 * listing fails at once (ESPIPE) and a directory with EISDIR, and a first read of any other
 * length (a file longer or shorter than listed, a full buffer of a big message) is followed
 * by an fstat: what is not a regular file is refused (EFTYPE), so the message gets -ERR, and a
 * regular file is read up to the size fstat gave (a file still growing is not followed); a
 * shorter one ends where its read does.
 */
class FileReader implements MessageReader {
  readonly #fd: number;
  readonly #path: string;
  readonly #listed: number;
  /** Octets still to read: the listed size plus one until the first read, then what fstat said is left. */
  #left: number;
  /** Where the next pread starts. */
  #offset = 0;
  #first = true;
  constructor(path: string, listedSize: number) {
    this.#fd = openSync(path, OPEN_MESSAGE);
    this.#path = path;
    this.#listed = listedSize;
    this.#left = listedSize + 1;
  }
  read(buf: Uint8Array): number {
    if (this.#left <= 0) return 0;
    const asked = Math.min(buf.length, this.#left);
    let n: number;
    try {
      n = readSync(this.#fd, buf, 0, asked, this.#offset);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (this.#first && (code === "EISDIR" || code === "ESPIPE")) throw this.#notRegular();
      throw e;
    }
    this.#offset += n;
    if (n < asked) {
      // A short read: the file's end. Unchecked only when it gave exactly the listed size.
      if (this.#first && n !== this.#listed && !fstatSync(this.#fd).isFile()) throw this.#notRegular();
      this.#first = false;
      this.#left = 0;
      return n;
    }
    if (this.#first) {
      this.#first = false;
      const st = fstatSync(this.#fd);
      if (!st.isFile()) throw this.#notRegular();
      this.#left = st.size - this.#offset;
      return n;
    }
    this.#left -= n;
    return n;
  }
  #notRegular(): Error {
    return Object.assign(new Error(`${this.#path}: not a regular file`), { code: "EFTYPE" });
  }
  close(): void {
    closeSync(this.#fd);
  }
}

export class MaildirMailbox implements Mailbox {
  readonly messages: readonly MessageInfo[];
  readonly #entries: readonly MaildirEntry[];

  /** Scans `dir` (moving new/ into cur/). Throws PermError (not a Maildir) or TempError. */
  constructor(dir: string, opts: MaildirMailboxOptions = {}) {
    const qmail = opts.compat === "qmail";
    this.#entries = (opts.scan ?? maildirScan)(dir, {
      order: qmail ? "qmail" : "delivery",
      moveNew: true,
      sizeCache: opts.sizeCache ?? true,
      onWarning: opts.onWarning,
    });
    // Messages moved from an mbox spool keep the UIDLs clients saw there (poppin convert).
    const uidls = readUidlMap(dir);
    // RFC 1939's UIDL (mod/pop3/uidl.ts): qmail-pop3d's for every ordinary name, a stable stand-in otherwise.
    const shown = rfcUidls(this.#entries.map((e) => ({
      wanted: uidls.get(e.uidl) ?? e.uidl,
      keys: [e.uidl, `${basename(dirname(e.path))}/${e.name}`],
    })));
    this.messages = this.#entries.map((e, i) => ({ size: qmail ? e.fileSize : e.crlfSize, uidl: shown[i]! }));
    this.#dir = dir;
    const seen = new Set<string>();
    for (const e of this.#entries) {
      if (seen.has(e.uidl)) this.#sharedUniques.add(e.uidl);
      seen.add(e.uidl);
    }
  }

  readonly #dir: string;
  /** Unique parts that more than one listed file carries: such a message is never looked for by its unique part. */
  readonly #sharedUniques = new Set<string>();

  open(index: number): MessageReader {
    const entry = this.#entries[index]!;
    try {
      return new FileReader(entry.path, entry.fileSize);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
      // Moved (new/ to cur/) or renamed (a flag changed) by another program since the listing.
      const now = this.#whereNow(entry);
      if (now === undefined) throw e;
      return new FileReader(now, entry.fileSize);
    }
  }

  /**
   * Where a listed message is now: the file in cur/ or new/ with the same unique part (the
   * name before ':'), which maildir(5) readers such as IMAP servers keep when they change flags.
   */
  #whereNow(entry: MaildirEntry): string | undefined {
    if (this.#sharedUniques.has(entry.uidl)) return undefined;
    return findByUnique(this.#dir, [entry.uidl]).get(entry.uidl);
  }

  remove(indices: readonly number[]): RemoveResult {
    const result = maildirDeleteMany(indices.map((i) => this.#entries[i]!.path));
    // A listed name that is gone may have been moved or renamed by another program: remove it where it is now.
    const byPath = new Map(indices.map((i) => [this.#entries[i]!.path, this.#entries[i]!]));
    const goneEntries = result.alreadyGone.map((p) => byPath.get(p)!).filter((e) => !this.#sharedUniques.has(e.uidl));
    const found = goneEntries.length === 0 ? new Map<string, string>() : findByUnique(this.#dir, goneEntries.map((e) => e.uidl));
    const movedEntries = goneEntries.filter((e) => found.has(e.uidl));
    const second = maildirDeleteMany(movedEntries.map((e) => found.get(e.uidl)!));
    // Maildir++ quota: what this session removed (not what another program had removed already).
    const unlinked = [...result.deleted.map((p) => byPath.get(p)!), ...second.deleted.map((p) => movedEntries.find((e) => found.get(e.uidl) === p)!)];
    let bytes = 0;
    for (const e of unlinked) bytes += e.fileSize;
    const quota = recordQuotaRemoval(this.#dir, bytes, unlinked.length);
    return {
      removed: result.deleted.length + result.alreadyGone.length - second.failed.length,
      unremoved: result.failed.length + second.failed.length,
      problems: [...[...result.failed, ...second.failed].map((f) => f.message), ...(quota === undefined ? [] : [quota])],
    };
  }
}

/**
 * Paths in DIR/cur and DIR/new of the messages whose unique part is one of `uniques`, for
 * each unique part that exactly one file carries now (two files with it: neither is taken
 * for the listed message, which is then gone; an unreadable directory: none).
 */
function findByUnique(dir: string, uniques: readonly string[]): Map<string, string> {
  const wanted = new Set(uniques);
  const found = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const sub of ["cur", "new"]) {
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      const unique = uidlOf(name);
      if (!wanted.has(unique)) continue;
      if (found.has(unique)) ambiguous.add(unique);
      else found.set(unique, join(dir, sub, name));
    }
  }
  for (const unique of ambiguous) found.delete(unique);
  return found;
}

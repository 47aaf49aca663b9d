/**
 * The Maildir backend of the POP3 engine, on mod/maildir's scan and delete helpers.
 * Default: sizes as sent (CRLF) and delivery order; "qmail" compatibility: qmail-pop3d's
 * file sizes (LF) and order (mtime heap). UIDLs are qmail-pop3d's in both.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { maildirDeleteMany } from "../maildir/clean.ts";
import { curNameFor } from "../maildir/name.ts";
import { maildirScan, type MaildirEntry } from "../maildir/scan.ts";
import { readUidlMap } from "../maildir/uidl_map.ts";
import type { Mailbox, MessageReader, RemoveResult } from "./mailbox.ts";
import type { MessageInfo } from "./transaction.ts";

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
 * A delivered message never changes (Maildir), so the size fstat gave at open is where it ends:
 * once that much is read, the end is reported without another read(2) (one system call less per
 * message: 20,000 x 4 KB RETR about 10% faster here). A file that turns out shorter ends where its
 * read does.
 */
class FileReader implements MessageReader {
  readonly #fd: number;
  #left: number;
  constructor(path: string) {
    this.#fd = openSync(path, OPEN_MESSAGE);
    const st = fstatSync(this.#fd);
    if (!st.isFile()) {
      closeSync(this.#fd);
      throw Object.assign(new Error(`${path}: not a regular file`), { code: "EFTYPE" });
    }
    this.#left = st.size;
  }
  read(buf: Uint8Array): number {
    if (this.#left <= 0) return 0;
    const n = readSync(this.#fd, buf, 0, Math.min(buf.length, this.#left), null);
    this.#left = n === 0 ? 0 : this.#left - n;
    return n;
  }
  close(): void {
    closeSync(this.#fd);
  }
}

/**
 * Where a message listed from DIR/new/NAME is once another session has moved it (qmail-pop3d's
 * move to DIR/cur/NAME:2,): without the session lock (mailbox-lock = none) that can happen
 * between the listing and RETR or QUIT.
 */
function movedToCur(path: string): string | undefined {
  const sub = dirname(path);
  if (basename(sub) !== "new") return undefined;
  return join(dirname(sub), "cur", curNameFor(basename(path)));
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
    this.messages = this.#entries.map((e) => ({ size: qmail ? e.fileSize : e.crlfSize, uidl: uidls.get(e.uidl) ?? e.uidl }));
  }

  open(index: number): MessageReader {
    const path = this.#entries[index]!.path;
    try {
      return new FileReader(path);
    } catch (e) {
      const moved = movedToCur(path);
      if ((e as { code?: string }).code !== "ENOENT" || moved === undefined) throw e;
      return new FileReader(moved);
    }
  }

  remove(indices: readonly number[]): RemoveResult {
    const result = maildirDeleteMany(indices.map((i) => this.#entries[i]!.path));
    // A name listed in new/ that is gone may have been moved to cur/ by another session: remove it there.
    const moved = result.alreadyGone.map(movedToCur).filter((p): p is string => p !== undefined);
    const second = maildirDeleteMany(moved);
    return {
      removed: result.deleted.length + result.alreadyGone.length,
      unremoved: result.failed.length + second.failed.length,
      problems: [...result.failed, ...second.failed].map((f) => f.message),
    };
  }
}

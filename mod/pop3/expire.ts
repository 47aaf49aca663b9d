/**
 * EXPIRE n (RFC 2449 section 6.7) enforced: a message retrieved (RETR) n or more days ago
 * is removed at the UPDATE of a later session. The day of the first retrieval is kept per
 * message, by UIDL (stable across sessions, 1-70 printable octets: mod/pop3/uidl.ts), in a
 * small record file of the mailbox owner's: one "UIDL DAY" line per message, DAY counted in
 * UTC days since 1970-01-01. The file is rewritten whole at UPDATE (temporary name, fsync,
 * rename, fsync of the directory), so a crash leaves the old record or the new one. A
 * session that ends without QUIT records nothing, as it removes nothing (RFC 1939 section 6).
 * Works over any Mailbox (Maildir, mbox): the hosts wrap the mailbox they opened.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "../base/posix_path.ts";
import { describeSysError } from "../base/errors.ts";
import { logValue } from "../base/log_value.ts";
import type { Mailbox, MessageReader, RemoveResult } from "./mailbox.ts";
import type { MessageInfo } from "./transaction.ts";
import { isValidUidl } from "./uidl.ts";

/** The record file's name in a Maildir. */
export const RETRIEVAL_RECORD_NAME = "poppin-retrieved";
/** A record larger than this is not read (a mailbox of about a million messages). */
const RECORD_MAX_OCTETS = 64 * 1024 * 1024;

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 (UTC) at `ms`. */
export function dayNumber(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/**
 * Reads a record: UIDL -> day. Missing: empty. Never follows a symlink and trusts only a
 * regular file of our own uid (anything else is ignored, as if there were none).
 */
export function readRetrievalRecord(path: string): Map<string, number> {
  const map = new Map<string, number>();
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return map;
  }
  try {
    const st = fstatSync(fd);
    const euid = process.geteuid?.() ?? st.uid;
    if (!st.isFile() || st.uid !== euid || st.size > RECORD_MAX_OCTETS) return map;
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    for (const line of buf.subarray(0, got).toString("latin1").split("\n")) {
      const space = line.indexOf(" ");
      if (space <= 0) continue;
      const uidl = line.slice(0, space);
      const day = line.slice(space + 1);
      if (isValidUidl(uidl) && /^[0-9]{1,9}$/.test(day)) map.set(uidl, Number(day));
    }
  } finally {
    closeSync(fd);
  }
  return map;
}

/** Replaces the record at `path` with `map` (write a new file, fsync, rename, fsync the directory). Throws system errors. */
export function writeRetrievalRecord(path: string, map: ReadonlyMap<string, number>): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const lines: string[] = [];
    for (const [uidl, day] of map) lines.push(`${uidl} ${day}\n`);
    const bytes = Buffer.from(lines.join(""), "latin1");
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(temp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (e) {
    try { unlinkSync(temp); } catch { /* already gone */ }
    throw e;
  }
  const dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export interface ExpireOptions {
  /** EXPIRE's n: days a retrieved message stays (> 0). */
  days: number;
  /** The record file (DIR/poppin-retrieved for a Maildir). */
  record: string;
  /** Now, in ms since the epoch (a test passes its own clock). */
  now?: () => number;
}

/** A mailbox whose UPDATE also removes what expired and records what was retrieved. */
export class ExpiringMailbox implements Mailbox {
  readonly messages: readonly MessageInfo[];
  readonly #inner: Mailbox;
  readonly #opts: ExpireOptions;
  readonly #retrievedNow = new Set<number>();

  constructor(inner: Mailbox, opts: ExpireOptions) {
    this.#inner = inner;
    this.#opts = opts;
    this.messages = inner.messages;
  }

  open(index: number): MessageReader {
    return this.#inner.open(index);
  }

  retrieved(index: number): void {
    this.#retrievedNow.add(index);
    this.#inner.retrieved?.(index);
  }

  remove(indices: readonly number[]): RemoveResult {
    const today = dayNumber((this.#opts.now ?? Date.now)());
    const marked = new Set(indices);
    const problems: string[] = [];
    const before = readRetrievalRecord(this.#opts.record);
    const expired: number[] = [];
    const after = new Map<string, number>();
    this.messages.forEach((m, i) => {
      if (marked.has(i)) return;
      const day = before.get(m.uidl) ?? (this.#retrievedNow.has(i) ? today : undefined);
      if (day === undefined) return;
      // Kept in the record even when removed now: a removal that fails is tried again next time.
      after.set(m.uidl, day);
      if (today - day >= this.#opts.days) expired.push(i);
    });
    const result = this.#inner.remove([...indices, ...expired].sort((a, b) => a - b));
    if (!sameRecord(before, after)) {
      try {
        writeRetrievalRecord(this.#opts.record, after);
      } catch (e) {
        problems.push(`unable to write ${logValue(this.#opts.record)}: ${describeSysError(e)}`);
      }
    }
    return { ...result, alsoRemoved: expired, problems: [...result.problems, ...problems] };
  }
}

function sameRecord(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

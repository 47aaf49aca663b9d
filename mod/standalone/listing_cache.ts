/**
 * serve --inline keeps the listings of big Maildirs between sessions, as Dovecot keeps its
 * index: a session whose Maildir's cur/ and new/ have not changed since the listing was made
 * gets it without reading the directories again. Any delivery, move, flag change or deletion
 * changes a directory's mtime, and so makes a fresh scan. A listing is kept only when both
 * directories were last changed more than STABLE_MS before its scan started (so neither changed
 * while it was made, and a change within the same timestamp tick cannot go unseen). Bounded in entries.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { maildirScan, type MaildirEntry, type ScanOptions } from "../maildir/scan.ts";

/** Listings shorter than this are scanned every time (cheap, and idle small sessions stay small). */
export const MIN_CACHED_ENTRIES = 1000;
/** Entries kept across all listings; the least recently used listing goes first. */
export const MAX_CACHED_ENTRIES = 400_000;
/** How long a directory must have been unchanged before a listing of it is trusted. */
export const STABLE_MS = 2000;

interface Stamp {
  cur: bigint;
  new: bigint;
}

interface Kept {
  stamp: Stamp;
  entries: MaildirEntry[];
}

function stampOf(dir: string): Stamp | undefined {
  try {
    return { cur: statSync(join(dir, "cur"), { bigint: true }).mtimeNs, new: statSync(join(dir, "new"), { bigint: true }).mtimeNs };
  } catch {
    return undefined;
  }
}

export class ListingCache {
  readonly #kept = new Map<string, Kept>();
  #entries = 0;
  hits = 0;

  constructor(private readonly now: () => number = Date.now, private readonly maxEntries = MAX_CACHED_ENTRIES) {}

  /** maildirScan, answered from the cache when the Maildir has not changed. */
  readonly scan = (dir: string, opts: ScanOptions = {}): MaildirEntry[] => {
    const key = `${opts.order ?? "delivery"}\0${opts.sizeCache ?? true}\0${dir}`;
    const started = this.now();
    const kept = this.#kept.get(key);
    if (kept !== undefined) {
      const stamp = stampOf(dir);
      if (stamp !== undefined && kept.stamp.cur === stamp.cur && kept.stamp.new === stamp.new) {
        this.#kept.delete(key);
        this.#kept.set(key, kept); // most recently used last
        this.hits++;
        return kept.entries;
      }
      this.#forget(key, kept);
    }
    const entries = maildirScan(dir, opts);
    // A small listing is never kept, so its directories are not even stat'ed (a login's common case).
    if (entries.length < MIN_CACHED_ENTRIES) return entries;
    // Kept only if both directories were last changed STABLE_MS before the scan started: a change
    // during the scan (or one the scan made, moving new/ to cur/) gives a later mtime.
    const after = stampOf(dir);
    const stableBefore = BigInt(Math.floor(started - STABLE_MS)) * 1_000_000n;
    if (after !== undefined && after.cur < stableBefore && after.new < stableBefore) {
      this.#kept.set(key, { stamp: after, entries });
      this.#entries += entries.length;
      for (const [k, v] of this.#kept) {
        if (this.#entries <= this.maxEntries) break;
        this.#forget(k, v);
      }
    }
    return entries;
  };

  #forget(key: string, kept: Kept): void {
    this.#kept.delete(key);
    this.#entries -= kept.entries.length;
  }

  /** Listings kept, and their entries. */
  get size(): { listings: number; entries: number } {
    return { listings: this.#kept.size, entries: this.#entries };
  }
}

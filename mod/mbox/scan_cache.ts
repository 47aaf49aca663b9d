/**
 * A cache of the spool's scan (Qpopper had one too, in its cache-dir), so that a session
 * on an unchanged spool starts without reading it: `.NAME.poppin-cache` in the temp
 * directory, holding the spool's identity (device, inode, size, times) and its messages.
 * Used as it is when the identity matches; when the spool only grew (same inode, larger,
 * every cached From_ line still at its offset: mail was delivered), only the new part is
 * read, from the last cached message on. Anything else: a full scan. The cache is only a
 * copy of what a scan finds, so it is written without fsync and any failure is ignored.
 * A cache is believed only when it is a regular file of the spool's owner (or ours), not
 * a link: in a shared directory another user could otherwise hide the victim's mail
 * behind a cache of an empty spool. It is created exclusively and renamed into place.
 */
import { closeSync, lstatSync, readdirSync, readFileSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createExclusive, effectiveUid, openOwnedFile } from "../sys/owned_file.ts";
import { processGone } from "./dot_lock.ts";
import { MAX_HIDDEN_RANGES } from "./hidden.ts";
import { trustedOwners } from "./journal.ts";
import type { MboxMessage } from "./message.ts";
import { scanMbox } from "./scan.ts";

const MAGIC = "poppin-mbox-cache 1";

export function scanCachePath(spool: string, dir: string): string {
  return join(dir, `.${basename(spool)}.poppin-cache`);
}

function identity(st: Stats): string {
  return `${st.dev} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}`;
}

/** A cache larger than this is not read (a spool of a million messages makes about 300 MB). */
const MAX_CACHE_OCTETS = 512 << 20;

const NUMBER_FIELDS = ["fromOffset", "start", "headerEnd", "end", "next", "crlfSize"] as const;

function isOffset(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** One stored message, or undefined when a field is missing or of the wrong kind. */
function storedMessage(v: unknown): MboxMessage | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!NUMBER_FIELDS.every((k) => isOffset(o[k]))) return undefined;
  for (const k of ["uidl", "derivedUidl", "fromLine", "status", "xStatus"]) if (typeof o[k] !== "string") return undefined;
  if (o.ownUidl !== undefined && typeof o.ownUidl !== "string") return undefined;
  if (o.eol !== "\n" && o.eol !== "\r\n") return undefined;
  const f = o.statusField;
  if (f !== undefined && !(Array.isArray(f) && f.length === 2 && isOffset(f[0]) && isOffset(f[1]))) return undefined;
  const m = o as unknown as MboxMessage & { fromLine: string };
  if (!(m.fromOffset <= m.start && m.start <= m.headerEnd && m.headerEnd <= m.end && m.end <= m.next) || m.uidl === "") return undefined;
  // Hidden header fields (hidden.ts): increasing [from, to) pairs inside the message. A cache
  // written before they existed has none, and its sizes count them: served as it says.
  const h = o.hiddenFields;
  if (h !== undefined && !validHidden(h, m.end - m.start)) return undefined;
  return {
    fromOffset: m.fromOffset, start: m.start, headerEnd: m.headerEnd, end: m.end, next: m.next, crlfSize: m.crlfSize,
    uidl: m.uidl, ...(m.ownUidl !== undefined ? { ownUidl: m.ownUidl } : {}), derivedUidl: m.derivedUidl,
    fromLine: Buffer.from(m.fromLine, "latin1"), status: m.status, xStatus: m.xStatus,
    ...(f !== undefined ? { statusField: [m.statusField![0], m.statusField![1]] as const } : {}), eol: m.eol,
    ...(h !== undefined ? { hiddenFields: (h as [number, number][]).map(([a, b]) => [a, b] as const) } : {}),
  };
}

function validHidden(h: unknown, length: number): boolean {
  if (!Array.isArray(h) || h.length === 0 || h.length > MAX_HIDDEN_RANGES) return false;
  let last = 0;
  for (const r of h) {
    if (!Array.isArray(r) || r.length !== 2 || !isOffset(r[0]) || !isOffset(r[1])) return false;
    if (r[0] < last || r[1] <= r[0] || r[1] > length) return false;
    last = r[1];
  }
  return true;
}

/**
 * Parses a cache file's text: the identity line and the messages, in spool order without
 * overlaps. Undefined for anything else (a torn write, another format, a hand-made file).
 */
export function parseScanCache(text: string): { id: string; messages: MboxMessage[] } | undefined {
  const nl = text.indexOf("\n");
  if (nl < 0) return undefined;
  const head = text.slice(0, nl);
  if (!head.startsWith(`${MAGIC} `) || !/^[0-9]+ [0-9]+ [0-9]+ [0-9.e+-]+ [0-9.e+-]+$/.test(head.slice(MAGIC.length + 1))) return undefined;
  let stored: unknown;
  try {
    stored = JSON.parse(text.slice(nl + 1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(stored)) return undefined;
  const messages: MboxMessage[] = [];
  for (const v of stored) {
    const m = storedMessage(v);
    if (m === undefined) return undefined;
    if (messages.length > 0 && m.fromOffset < messages[messages.length - 1]!.next) return undefined;
    messages.push(m);
  }
  return { id: head.slice(MAGIC.length + 1), messages };
}

function load(path: string, spool: Stats): { id: string; messages: MboxMessage[] } | undefined {
  try {
    const { fd, stat } = openOwnedFile(path, "read", trustedOwners(spool));
    try {
      if (stat.size > MAX_CACHE_OCTETS) return undefined;
      return parseScanCache(readFileSync(fd, "latin1"));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** Removes `PATH.PID` files that a session killed while writing the cache left behind. */
function removeStaleTemps(path: string): void {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path)).filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)));
  } catch {
    return;
  }
  for (const n of names) {
    if (!processGone(Number(n.slice(prefix.length)))) continue;
    try { unlinkSync(join(dirname(path), n)); } catch { /* someone else's, or gone */ }
  }
}

/** Creates the temporary cache file exclusively; a leftover of ours at that name is replaced, anyone else's left alone (and no cache written). */
function createTemp(tmp: string): number {
  try {
    return createExclusive(tmp, 0o600);
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST" || lstatSync(tmp).uid !== effectiveUid()) throw e;
  }
  unlinkSync(tmp);
  return createExclusive(tmp, 0o600);
}

export function saveScanCache(path: string, st: Stats, messages: readonly MboxMessage[]): void {
  const tmp = `${path}.${process.pid}`;
  removeStaleTemps(path);
  let made = false;
  try {
    const body = JSON.stringify(messages.map((m) => ({ ...m, fromLine: Buffer.from(m.fromLine).toString("latin1") })));
    const fd = createTemp(tmp);
    made = true;
    try {
      const bytes = Buffer.from(`${MAGIC} ${identity(st)}\n${body}`, "latin1");
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch {
    if (made) try { unlinkSync(tmp); } catch { /* gone */ }
  }
}

/** Whether every cached message's From_ line is still at its offset in the spool. */
function fromLinesInPlace(fd: number, messages: readonly MboxMessage[]): boolean {
  const probe = Buffer.alloc(1024);
  for (const m of messages) {
    const want = m.fromLine.length + 1;
    const buf = want <= probe.length ? probe.subarray(0, want) : Buffer.alloc(want);
    if (readSync(fd, buf, 0, want, m.fromOffset) !== want) return false;
    if (!buf.subarray(0, m.fromLine.length).equals(m.fromLine) || buf[m.fromLine.length] !== 10) return false;
  }
  return true;
}

/** Scans the spool open on `fd` (locked, with stat `st`), through the cache at `path` when it may be trusted. */
export function scanWithCache(fd: number, st: Stats, spool: string, path: string | undefined): { messages: MboxMessage[]; from: "cache" | "grown" | "scan" } {
  const cached = path === undefined ? undefined : load(path, st);
  if (cached !== undefined && cached.id === identity(st)) return { messages: cached.messages, from: "cache" };
  let result: { messages: MboxMessage[]; from: "cache" | "grown" | "scan" } | undefined;
  if (cached !== undefined && cached.messages.length > 0) {
    const [dev, ino, size] = cached.id.split(" ").map(Number) as [number, number, number];
    if (dev === st.dev && ino === st.ino && st.size > size && fromLinesInPlace(fd, cached.messages)) {
      const keep = cached.messages.slice(0, -1);
      const last = cached.messages[cached.messages.length - 1]!;
      result = { messages: scanMbox(fd, st.size, spool, { messages: keep, from: last.fromOffset }).messages, from: "grown" };
    }
  }
  result ??= { messages: scanMbox(fd, st.size, spool).messages, from: "scan" };
  if (path !== undefined) saveScanCache(path, st, result.messages);
  return result;
}

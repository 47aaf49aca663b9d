/**
 * A cache of the spool's scan (Qpopper had one too, in its cache-dir), so that a session
 * on an unchanged spool starts without reading it: `.NAME.poppin-cache` in the temp
 * directory, holding the spool's identity (device, inode, size, times) and its messages.
 * Used as it is when the identity matches; when the spool only grew (same inode, larger,
 * every cached From_ line still at its offset: mail was delivered), only the new part is
 * read, from the last cached message on. Anything else: a full scan. The cache is only a
 * copy of what a scan finds, so it is written without fsync and any failure is ignored.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { processGone } from "./dot_lock.ts";
import type { MboxMessage } from "./message.ts";
import { scanMbox } from "./scan.ts";

const MAGIC = "poppin-mbox-cache 2"; // 2: sizes leave out hidden header fields (hidden.ts)

export function scanCachePath(spool: string, dir: string): string {
  return join(dir, `.${basename(spool)}.poppin-cache`);
}

function identity(st: Stats): string {
  return `${st.dev} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}`;
}

interface Stored extends Omit<MboxMessage, "fromLine"> { fromLine: string }

function load(path: string): { id: string; messages: MboxMessage[] } | undefined {
  try {
    const text = readFileSync(path, "latin1");
    const nl = text.indexOf("\n");
    const head = text.slice(0, nl);
    if (!head.startsWith(`${MAGIC} `)) return undefined;
    const stored = JSON.parse(text.slice(nl + 1)) as Stored[];
    return { id: head.slice(MAGIC.length + 1), messages: stored.map((m) => ({ ...m, fromLine: Buffer.from(m.fromLine, "latin1") })) };
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

export function saveScanCache(path: string, st: Stats, messages: readonly MboxMessage[]): void {
  const tmp = `${path}.${process.pid}`;
  removeStaleTemps(path);
  try {
    const body = JSON.stringify(messages.map((m) => ({ ...m, fromLine: Buffer.from(m.fromLine).toString("latin1") })));
    const fd = openSync(tmp, "w", 0o600);
    try {
      const bytes = Buffer.from(`${MAGIC} ${identity(st)}\n${body}`, "latin1");
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch {
    try { unlinkSync(tmp); } catch { /* never made */ }
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
  const cached = path === undefined ? undefined : load(path);
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

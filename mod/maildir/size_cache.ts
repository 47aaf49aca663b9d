/**
 * The size cache: DIR/poppin-sizes remembers each message's CRLF size so a session
 * start does not read every message again. An entry is keyed by UIDL (stable across
 * renames and flag changes) and is used only while the file's size and mtime are the
 * ones it was measured at, so an edited or replaced file is measured again.
 *
 * File format (text, one message per line, the UIDL last because it may hold spaces):
 *   poppin-sizes 1
 *   <mtimeMs> <fileSize> <crlfSize> <uidl>
 *   ...
 *   end <entries> <crc32 of every line above, hex>
 * A file that does not parse, or whose trailer does not match, is ignored and rebuilt.
 */
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { describeSysError } from "../base/errors.ts";
import { openDirectory, openRegularFile, readHead } from "../sys/owned_file.ts";

export const SIZE_CACHE_FILE = "poppin-sizes";
const HEADER = "poppin-sizes 1\n";
/** A cache larger than this is ignored (bounded reads): ~650 bytes a message at 100,000 messages. */
export const SIZE_CACHE_MAX_BYTES = 64 * 1024 * 1024;

interface CacheEntry {
  mtimeMs: number;
  fileSize: number;
  crlfSize: number;
}

/** A non-negative integer written in decimal digits only, or -1. */
function decimal(text: string): number {
  if (text.length === 0 || text.length > 15) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(text);
}

/** Parses a cache file; undefined when anything is wrong with it. */
export function parseSizeCache(text: string): Map<string, CacheEntry> | undefined {
  if (!text.startsWith(HEADER)) return undefined;
  if (!text.endsWith("\n")) return undefined;
  const trailerAt = text.lastIndexOf("\n", text.length - 2) + 1;
  if (trailerAt < HEADER.length || !text.startsWith("end ", trailerAt)) return undefined;
  const body = text.slice(0, trailerAt);
  const trailer = text.slice(trailerAt, -1).split(" ");
  if (trailer.length !== 3) return undefined;
  if (Bun.hash.crc32(Buffer.from(body, "utf8")).toString(16) !== trailer[2]) return undefined;
  const lines = body.slice(HEADER.length, -1);
  const map = new Map<string, CacheEntry>();
  if (lines.length > 0) {
    for (const line of lines.split("\n")) {
      const a = line.indexOf(" ");
      const b = line.indexOf(" ", a + 1);
      const c = line.indexOf(" ", b + 1);
      if (a <= 0 || b < 0 || c < 0 || c + 1 >= line.length) return undefined;
      const mtimeText = line.slice(0, a);
      const entry = { mtimeMs: Number(mtimeText), fileSize: decimal(line.slice(a + 1, b)), crlfSize: decimal(line.slice(b + 1, c)) };
      if (!/^[0-9]+(\.[0-9]+)?$/.test(mtimeText) || entry.fileSize < 0 || entry.crlfSize < entry.fileSize) return undefined;
      map.set(line.slice(c + 1), entry);
    }
  }
  if (String(map.size) !== trailer[1]) return undefined;
  return map;
}

/** Renders a cache file for `entries`; UIDLs holding a newline are left out (they cannot be one line). */
export function formatSizeCache(entries: Map<string, CacheEntry>): string {
  const parts: string[] = [HEADER];
  let count = 0;
  for (const [uidl, e] of entries) {
    if (uidl.includes("\n")) continue;
    parts.push(`${e.mtimeMs} ${e.fileSize} ${e.crlfSize} ${uidl}\n`);
    count++;
  }
  const body = parts.join("");
  return `${body}end ${count} ${Bun.hash.crc32(Buffer.from(body, "utf8")).toString(16)}\n`;
}

/**
 * The cache's text: a regular file read without waiting (the Maildir's owner may put a FIFO at
 * the name: open(2) would block the session for good) and not through a symbolic link.
 */
function readSmallFile(path: string): string | undefined {
  let opened;
  try {
    opened = openRegularFile(path, "read", { follow: false });
  } catch {
    return undefined;
  }
  try {
    if (opened.stat.size > SIZE_CACHE_MAX_BYTES) return undefined;
    return readHead(opened.fd, opened.stat.size).toString("utf8");
  } catch {
    return undefined;
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * Writes `data` to `path` durably: temporary name in the same directory, fsync, rename, fsync the
 * directory. The temporary file is made exclusively, never through what is at its name (a FIFO
 * there, a name a process serving many sessions of one user keeps, would block the open).
 */
export function writeFileAtomic(dir: string, name: string, data: Uint8Array): void {
  const tmp = join(dir, `${name}.tmp.${process.pid}`);
  try { unlinkSync(tmp); } catch { /* none left over */ }
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, join(dir, name));
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  const dfd = openDirectory(dir);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** One scan's view of the cache: lookups mark entries as live; `save` keeps only live ones. */
export class SizeCache {
  private readonly live = new Map<string, CacheEntry>();
  private dirty: boolean;

  private constructor(private readonly dir: string, private readonly old: Map<string, CacheEntry>, corrupt: boolean,
    private readonly warn: (m: string) => void) {
    this.dirty = corrupt;
  }

  /** Reads DIR/poppin-sizes; a missing, oversized or corrupt file gives an empty cache (rebuilt on save). */
  static load(dir: string, warn: (m: string) => void = () => {}): SizeCache {
    const text = readSmallFile(join(dir, SIZE_CACHE_FILE));
    if (text === undefined) return new SizeCache(dir, new Map(), false, warn);
    const parsed = parseSizeCache(text);
    if (!parsed) warn(`ignoring corrupt size cache ${join(dir, SIZE_CACHE_FILE)}: rebuilding it`);
    return new SizeCache(dir, parsed ?? new Map(), !parsed, warn);
  }

  /** The cached CRLF size, if measured for exactly this file size and mtime. */
  get(uidl: string, fileSize: number, mtimeMs: number): number | undefined {
    const e = this.old.get(uidl);
    if (!e || e.fileSize !== fileSize || e.mtimeMs !== mtimeMs) return undefined;
    this.live.set(uidl, e);
    return e.crlfSize;
  }

  set(uidl: string, fileSize: number, mtimeMs: number, crlfSize: number): void {
    this.live.set(uidl, { mtimeMs, fileSize, crlfSize });
    this.dirty = true;
  }

  /** Number of entries the next save would write. */
  get size(): number {
    return this.live.size;
  }

  /** Writes the live entries if anything changed (new sizes, or entries of files now gone). Never throws. */
  save(): void {
    if (!this.dirty && this.live.size === this.old.size) return;
    const data = Buffer.from(formatSizeCache(this.live), "utf8");
    if (data.length > SIZE_CACHE_MAX_BYTES) {
      // Would be ignored when read back: do not spend the write (sizes are then counted each time).
      this.warn(`not writing size cache ${join(this.dir, SIZE_CACHE_FILE)}: over ${SIZE_CACHE_MAX_BYTES} bytes`);
      return;
    }
    try {
      writeFileAtomic(this.dir, SIZE_CACHE_FILE, data);
      this.dirty = false;
    } catch (err) {
      this.warn(`unable to write size cache ${join(this.dir, SIZE_CACHE_FILE)}: ${describeSysError(err)}`);
    }
  }
}

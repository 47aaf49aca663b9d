import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { untrustedReason } from "../sys/owned_file.ts";
import { dirname } from "node:path";
import { describeSysError, PermError, TempError } from "../base/errors.ts";
import { CDB_HEADER_SIZE, CDB_MAX_SIZE, cdbHash } from "./hash.ts";

const OUTPUT_BUFFER = 1 << 16;

/** The database would not fit the format's 32-bit offsets. */
export class CdbTooLargeError extends PermError {
  constructor(path: string) {
    super(`unable to write to ${path}: the cdb format is limited to 4 GiB`);
  }
}

/**
 * Writes a cdb byte-identical to djb's cdb_make (and Debian's cdbmake/tcprules) for the
 * same records in the same order: records from offset 2048, then for each of the 256
 * tables (hash & 255) a table of 2*count slots filled in insertion order by linear probing
 * from (hash >> 8) % slots, then the header. Records stream through a buffer to a
 * temporary file; finish() fsyncs it, commit() renames it over the target and fsyncs
 * the directory, so readers see the old file or the new one, never a partial one.
 */
/** Whether `path` exists and is the file `st` describes. */
function isSameFile(st: { dev: number; ino: number }, path: string): boolean {
  try {
    const other = statSync(path);
    return other.dev === st.dev && other.ino === st.ino;
  } catch {
    return false;
  }
}

export class CdbWriter {
  readonly tmpPath: string;
  #fd: number;
  #pos = 0;
  #buffer = new Uint8Array(OUTPUT_BUFFER);
  #buffered = 0;
  #hashes = new Uint32Array(1024);
  #positions = new Uint32Array(1024);
  #count = 0;
  #recordStart = 0;
  #recordEnd = 0;
  #finished = false;

  private constructor(tmpPath: string, fd: number) {
    this.tmpPath = tmpPath;
    this.#fd = fd;
  }

  /**
   * Creates (or truncates) the temporary file, mode 0644 as djb's open_trunc, but never through
   * a symbolic link, never blocking on a FIFO, and truncating only a regular file with one link
   * owned by this process's user (a leftover of an interrupted run): root compiling in a
   * directory another account can write in must not overwrite a file that account points it at.
   * `target`: the file the temporary one will be renamed over; naming it as the temporary file
   * too (`compile table.cdb table.cdb`) is refused before anything is truncated, so that a
   * malformed input still leaves the table in place.
   */
  static create(tmpPath: string, target?: string): CdbWriter {
    let fd: number;
    try {
      fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
    } catch (err) {
      const why = (err as { code?: string }).code === "ELOOP" ? "is a symbolic link" : describeSysError(err);
      throw new TempError(`unable to create ${tmpPath}: ${why}`);
    }
    try {
      const st = fstatSync(fd);
      const why = untrustedReason(st, [process.geteuid?.() ?? 0]);
      if (why !== undefined) throw new TempError(`unable to create ${tmpPath}: it ${why}`);
      if (target !== undefined && isSameFile(st, target)) throw new TempError(`unable to create ${tmpPath}: it is ${target} itself (name a temporary file beside it)`);
      ftruncateSync(fd, 0);
    } catch (err) {
      closeSync(fd);
      throw err instanceof TempError ? err : new TempError(`unable to create ${tmpPath}: ${describeSysError(err)}`);
    }
    const writer = new CdbWriter(tmpPath, fd);
    writer.#write(new Uint8Array(CDB_HEADER_SIZE)); // room for the header, written last
    return writer;
  }

  /** Takes a temporary file this process has just created exclusively (O_EXCL) and still holds open for writing. */
  static fromDescriptor(tmpPath: string, fd: number): CdbWriter {
    const writer = new CdbWriter(tmpPath, fd);
    writer.#write(new Uint8Array(CDB_HEADER_SIZE));
    return writer;
  }

  get recordCount(): number {
    return this.#count;
  }

  /** Whether one more record of these lengths keeps the file, tables included, within 32-bit offsets. */
  fits(keyLength: number, dataLength: number): boolean {
    // The record, and at the end its two table slots (16 bytes) with everyone else's.
    return this.#pos + 8 + keyLength + dataLength + 16 * (this.#count + 1) <= CDB_MAX_SIZE;
  }

  /** Adds one record. */
  add(key: Uint8Array, data: Uint8Array): void {
    this.beginRecord(key.length, data.length);
    this.writeRecordBytes(key);
    this.writeRecordBytes(data);
    this.endRecord(cdbHash(key));
  }

  /**
   * Streaming form of add() for records too large to hold (cdbmake's input): the caller
   * writes exactly keyLength + dataLength bytes, then gives the key's hash.
   */
  beginRecord(keyLength: number, dataLength: number): void {
    if (!this.fits(keyLength, dataLength)) throw new CdbTooLargeError(this.tmpPath);
    const end = this.#pos + 8 + keyLength + dataLength;
    const header = new Uint8Array(8);
    const view = new DataView(header.buffer);
    view.setUint32(0, keyLength, true);
    view.setUint32(4, dataLength, true);
    this.#recordStart = this.#pos;
    this.#recordEnd = end;
    this.#write(header);
  }

  writeRecordBytes(bytes: Uint8Array): void {
    if (this.#pos + bytes.length > this.#recordEnd) throw new Error("cdb record longer than announced");
    this.#write(bytes);
  }

  endRecord(hash: number): void {
    if (this.#pos !== this.#recordEnd) throw new Error("cdb record shorter than announced");
    if (this.#count === this.#hashes.length) {
      const hashes = new Uint32Array(this.#count * 2);
      hashes.set(this.#hashes);
      this.#hashes = hashes;
      const positions = new Uint32Array(this.#count * 2);
      positions.set(this.#positions);
      this.#positions = positions;
    }
    this.#hashes[this.#count] = hash;
    this.#positions[this.#count] = this.#recordStart;
    this.#count++;
  }

  /** Writes the hash tables and the header, fsyncs and closes the temporary file. */
  finish(): void {
    const n = this.#count;
    const counts = new Uint32Array(256);
    for (let i = 0; i < n; i++) counts[this.#hashes[i] & 255]++;
    // Counting sort by table, keeping insertion order inside each table.
    const starts = new Uint32Array(257);
    for (let t = 0; t < 256; t++) starts[t + 1] = starts[t] + counts[t];
    const order = new Uint32Array(n);
    const next = starts.slice(0, 256);
    for (let i = 0; i < n; i++) order[next[this.#hashes[i] & 255]++] = i;

    const header = new Uint8Array(CDB_HEADER_SIZE);
    const headerView = new DataView(header.buffer);
    let maxSlots = 0;
    for (let t = 0; t < 256; t++) maxSlots = Math.max(maxSlots, counts[t] * 2);
    const table = new Uint32Array(maxSlots * 2); // (hash, position) pairs, little-endian on disk
    const tableBytes = new Uint8Array(table.buffer);
    const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    for (let t = 0; t < 256; t++) {
      const slots = counts[t] * 2;
      headerView.setUint32(8 * t, this.#pos, true);
      headerView.setUint32(8 * t + 4, slots, true);
      if (slots === 0) continue;
      table.fill(0, 0, slots * 2);
      for (let k = starts[t]; k < starts[t + 1]; k++) {
        const i = order[k];
        const hash = this.#hashes[i];
        let where = (hash >>> 8) % slots;
        while (table[2 * where + 1] !== 0) if (++where === slots) where = 0;
        table[2 * where] = hash;
        table[2 * where + 1] = this.#positions[i];
      }
      const bytes = tableBytes.subarray(0, slots * 8);
      if (!littleEndian) {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
        for (let w = 0; w < slots * 2; w++) view.setUint32(4 * w, table[w], true);
      }
      this.#write(bytes);
    }
    this.#flush();
    try {
      let done = 0;
      while (done < header.length) done += writeSync(this.#fd, header, done, header.length - done, done);
      fsyncSync(this.#fd);
      closeSync(this.#fd);
    } catch (err) {
      throw new TempError(`unable to write to ${this.tmpPath}: ${describeSysError(err)}`);
    }
    this.#finished = true;
  }

  /** Renames the finished temporary file over `path` and fsyncs the directory. */
  commit(path: string): void {
    if (!this.#finished) this.finish();
    try {
      renameSync(this.tmpPath, path);
    } catch (err) {
      throw new TempError(`unable to move ${this.tmpPath} to ${path}: ${describeSysError(err)}`);
    }
    fsyncDirectory(dirname(path));
  }

  /** Gives up: closes and removes the temporary file (the target is never touched). */
  abort(): void {
    if (!this.#finished) {
      try { closeSync(this.#fd); } catch { /* already closed */ }
      this.#finished = true;
    }
    try { unlinkSync(this.tmpPath); } catch { /* already gone */ }
  }

  #write(bytes: Uint8Array): void {
    this.#pos += bytes.length;
    if (this.#buffered + bytes.length > this.#buffer.length) {
      this.#flush();
      if (bytes.length >= this.#buffer.length) {
        this.#writeOut(bytes);
        return;
      }
    }
    this.#buffer.set(bytes, this.#buffered);
    this.#buffered += bytes.length;
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    this.#writeOut(this.#buffer.subarray(0, this.#buffered));
    this.#buffered = 0;
  }

  #writeOut(bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.#fd, bytes, done, bytes.length - done);
    } catch (err) {
      throw new TempError(`unable to write to ${this.tmpPath}: ${describeSysError(err)}`);
    }
  }
}

/** fsync on the directory makes the rename itself durable. */
export function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch (err) {
    throw new TempError(`unable to open directory ${dir}: ${describeSysError(err)}`);
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Some file systems cannot fsync a directory; the rename has still happened.
    if (code !== "EINVAL" && code !== "ENOTSUP") throw new TempError(`unable to sync directory ${dir}: ${describeSysError(err)}`);
  } finally {
    closeSync(fd);
  }
}

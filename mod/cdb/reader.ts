import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { describeSysError } from "../base/errors.ts";
import { CdbFormatError, CdbIoError } from "./errors.ts";
import { CDB_HEADER_SIZE, cdbHash } from "./hash.ts";

/** What djb's cdb_read reports (errno = error_proto) when the file is shorter than its own pointers say. */
export const CDB_PROTOCOL_ERROR = "protocol error";

/** Bytes read at a candidate record: its lengths, a key of usual size and a short value together. */
const RECORD_WINDOW = 1024;

/** Keys are compared in chunks so a huge key in a corrupt file never costs a huge allocation. */
const KEY_CHUNK = 4096;

/**
 * Reads one cdb through positioned reads on an open fd (never loads the whole file).
 * `find(key)` returns the first value of a key, `findNext()` the following ones, in the
 * order the writer added them, as djb's cdb_find/cdb_findnext. Every read is checked
 * against the file size and the probe loop is bounded by the slot count of its table (a
 * table that does not fit in the file fails at its first read past the end), so a corrupt
 * or truncated file throws CdbFormatError ("protocol error", djb's wording) instead of
 * looping or reading past the end, at the same points where djb's cdb fails.
 */
export class CdbReader {
  readonly fd: number;
  readonly size: number;
  readonly #ownsFd: boolean;
  readonly #word = new Uint8Array(8);
  readonly #view = new DataView(this.#word.buffer);
  /** The 2048-byte header, read once (the file is constant) when the file is long enough to have one. */
  #header: DataView | null = null;
  // Search state, as in djb's struct cdb: current key, its hash, table, probe position.
  #key: Uint8Array = new Uint8Array(0);
  #hash = 0;
  #tablePos = 0;
  #slots = 0;
  #slotPos = 0;
  #probes = 0;
  #searching = false;
  /** The last record read (lengths, key, often the value): one read per candidate record. */
  readonly #record = new Uint8Array(RECORD_WINDOW);
  readonly #recordView = new DataView(this.#record.buffer);
  #recordPos = -1;
  #recordBytes = 0;
  /** Position and length of the value found last. */
  dataPos = 0;
  dataLength = 0;

  constructor(fd: number, size: number, ownsFd = false) {
    this.fd = fd;
    this.size = size;
    this.#ownsFd = ownsFd;
  }

  /** Opens `path`; a missing or unreadable file throws CdbIoError with the errno name in `code`. */
  static open(path: string): CdbReader {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new CdbIoError(`unable to read ${path}: ${describeSysError(err)}`, code);
    }
    try {
      return new CdbReader(fd, fstatSync(fd).size, true);
    } catch (err) {
      closeSync(fd);
      throw new CdbIoError(`unable to read ${path}: ${describeSysError(err)}`, (err as { code?: string }).code);
    }
  }

  /** Reader over an fd the caller keeps (cdbget reads its standard input). */
  static fromFd(fd: number): CdbReader {
    let size: number;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new CdbFormatError(CDB_PROTOCOL_ERROR);
      size = st.size;
    } catch (err) {
      if (err instanceof CdbFormatError) throw err;
      throw new CdbIoError(describeSysError(err), (err as { code?: string }).code);
    }
    return new CdbReader(fd, size, false);
  }

  close(): void {
    if (this.#ownsFd) closeSync(this.fd);
  }

  /** Reads exactly `length` bytes at `pos` into `into`; past the end of the file is a format error. */
  readAt(into: Uint8Array, length: number, pos: number): void {
    if (pos > this.size || this.size - pos < length) throw new CdbFormatError(CDB_PROTOCOL_ERROR);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd, into, done, length - done, pos + done);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "EINTR" || code === "EAGAIN") continue;
        if (code === "ESPIPE") throw new CdbFormatError(CDB_PROTOCOL_ERROR);
        throw new CdbIoError(describeSysError(err), code);
      }
      if (n === 0) throw new CdbFormatError(CDB_PROTOCOL_ERROR); // file shrank under us
      done += n;
    }
  }

  /** Two little-endian 32-bit words at `pos`. */
  #readPair(pos: number): [number, number] {
    this.readAt(this.#word, 8, pos);
    return [this.#view.getUint32(0, true), this.#view.getUint32(4, true)];
  }

  #headerPair(pos: number): [number, number] {
    if (this.#header === null) {
      if (this.size < CDB_HEADER_SIZE) return this.#readPair(pos);
      const bytes = new Uint8Array(CDB_HEADER_SIZE);
      this.readAt(bytes, CDB_HEADER_SIZE, 0);
      this.#header = new DataView(bytes.buffer);
    }
    return [this.#header.getUint32(pos, true), this.#header.getUint32(pos + 4, true)];
  }

  /** Starts a new search for `key` and returns its first value, or null. */
  find(key: Uint8Array): Uint8Array | null {
    this.#key = key;
    this.#searching = false;
    return this.findNext();
  }

  /** The next value of the key given to find(), or null when there are no more. */
  findNext(): Uint8Array | null {
    return this.#advance() ? this.readData() : null;
  }

  /** Like find() but only positions `dataPos`/`dataLength`; true when the key exists. */
  findPosition(key: Uint8Array): boolean {
    this.#key = key;
    this.#searching = false;
    return this.#advance();
  }

  /** Like findNext() but only positions `dataPos`/`dataLength` (cdbget streams large values). */
  findNextPosition(): boolean {
    return this.#advance();
  }

  /** The value found last. */
  readData(): Uint8Array {
    const offset = this.dataPos - this.#recordPos;
    if (offset >= 8 && offset + this.dataLength <= this.#recordBytes) {
      return this.#record.slice(offset, offset + this.dataLength); // came with the record's read
    }
    // A corrupt length must not cost its size in memory: check it against the file first.
    if (this.dataPos > this.size || this.size - this.dataPos < this.dataLength) throw new CdbFormatError(CDB_PROTOCOL_ERROR);
    const data = new Uint8Array(this.dataLength);
    this.readAt(data, this.dataLength, this.dataPos);
    return data;
  }

  #advance(): boolean {
    const key = this.#key;
    if (!this.#searching) {
      this.#hash = cdbHash(key);
      const [tablePos, slots] = this.#headerPair((this.#hash << 3) & (CDB_HEADER_SIZE - 1));
      this.#searching = true;
      this.#probes = 0;
      this.#slots = slots;
      if (slots === 0) return false;
      this.#tablePos = tablePos;
      // 32-bit arithmetic throughout, as djb's uint32 (matters only for corrupt files).
      this.#slotPos = (tablePos + ((this.#hash >>> 8) % slots) * 8) >>> 0;
    }
    const tableEnd = (this.#tablePos + this.#slots * 8) >>> 0;
    while (this.#probes < this.#slots) {
      const [hash, recordPos] = this.#readPair(this.#slotPos);
      if (recordPos === 0) return false;
      // More probes than 8-byte slots fit in the file: the table is garbage that wraps
      // around 2^32 (djb's loop would spin up to 2^32 times); stop.
      if (++this.#probes > this.size / 8 + 1) throw new CdbFormatError(CDB_PROTOCOL_ERROR);
      this.#slotPos = (this.#slotPos + 8) >>> 0;
      if (this.#slotPos === tableEnd) this.#slotPos = this.#tablePos;
      if (hash !== this.#hash) continue;
      if (!this.#recordMatches(key, recordPos)) continue;
      const keyLength = this.#recordView.getUint32(0, true);
      const dataLength = this.#recordView.getUint32(4, true);
      // Like djb's cdb, the value is checked against the file size only when it is read.
      this.dataPos = (recordPos + 8 + keyLength) >>> 0;
      this.dataLength = dataLength;
      return true;
    }
    return false;
  }

  /**
   * Reads the record at `pos` (lengths, key and, when short, its value) in one positioned
   * read and compares the key; a key longer than the window is compared in chunks.
   */
  #recordMatches(key: Uint8Array, pos: number): boolean {
    const available = this.size - pos;
    if (pos > this.size || available < 8) throw new CdbFormatError(CDB_PROTOCOL_ERROR);
    const want = key.length <= RECORD_WINDOW - 8 ? Math.min(RECORD_WINDOW, available) : 8;
    this.readAt(this.#record, want, pos);
    this.#recordPos = pos;
    this.#recordBytes = want;
    if (this.#recordView.getUint32(0, true) !== key.length) return false;
    if (want === 8) return this.#keyMatches(key, (pos + 8) >>> 0);
    if (want < 8 + key.length) throw new CdbFormatError(CDB_PROTOCOL_ERROR); // key runs past the end
    for (let i = 0; i < key.length; i++) if (this.#record[8 + i] !== key[i]) return false;
    return true;
  }

  #keyMatches(key: Uint8Array, pos: number): boolean {
    const chunk = new Uint8Array(Math.min(KEY_CHUNK, key.length));
    for (let off = 0; off < key.length; off += KEY_CHUNK) {
      const n = Math.min(KEY_CHUNK, key.length - off);
      this.readAt(chunk, n, pos + off);
      for (let i = 0; i < n; i++) if (chunk[i] !== key[off + i]) return false;
    }
    return true;
  }
}

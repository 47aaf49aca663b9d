/**
 * Reads a file line by line through one reusable buffer, with positioned reads up to a
 * fixed length (the spool's size when it was locked). A line longer than the buffer
 * comes out in pieces; `lineStart` tells the first piece from the rest.
 */
import { readSync } from "node:fs";

export const LINE_READER_BUFFER = 1 << 20;

/** What skipLines passed over: octets, lines (LFs), CRLFs among them, and the last line's length if it was empty. */
export interface SkipTally {
  octets: number;
  lines: number;
  crlf: number;
  lastBlankLen: number;
}

const NL_F = Buffer.from("\nF");
const CRLF = Buffer.from("\r\n");

/** Counts the LFs in buf[from, to) (to ends a line), CRLFs among them, and whether the last line is empty. */
function tallyLines(buf: Buffer, words: Uint32Array, from: number, to: number, acc: SkipTally): void {
  let n = 0;
  let i = from;
  for (; i < to && (i & 3) !== 0; i++) if (buf[i] === 10) n++;
  const wordEnd = to >> 2;
  for (let w = i >> 2; w < wordEnd; w++) {
    // SWAR: a zero octet of x marks an LF; count them exactly (no false positives).
    const x = words[w]! ^ 0x0a0a0a0a;
    const zeros = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
    n += Math.imul(zeros >>> 7, 0x01010101) >>> 24;
  }
  for (i = Math.max(i, wordEnd << 2); i < to; i++) if (buf[i] === 10) n++;
  let crlf = 0;
  const region = buf.subarray(from, to); // bounded searches: indexOf would run to the buffer's end
  for (let j = region.indexOf(CRLF); j >= 0; j = region.indexOf(CRLF, j + 2)) crlf++;
  acc.lines += n;
  acc.crlf += crlf;
  acc.octets += to - from;
  const before = to >= 2 ? buf.lastIndexOf(10, to - 2) : -1;
  const last = to - (before < from - 1 ? from : before + 1);
  acc.lastBlankLen = last === 1 || (last === 2 && buf[to - 2] === 13) ? last : 0;
}

export class LineReader {
  readonly #fd: number;
  readonly #limit: number;
  readonly #buf: Buffer;
  /** The same memory as 32-bit words, for counting LFs four octets at a time. */
  readonly #words: Uint32Array;
  #len = 0;
  #pos = 0;
  /** File offset of #buf[0]. */
  #base: number;
  #eof = false;
  #nextStartsLine = true;

  /** File offset of the current piece. */
  offset = 0;
  /** The current piece (a view into the buffer, valid until the next call). */
  view: Buffer = Buffer.alloc(0);
  /** Whether the current piece starts a line. */
  lineStart = true;
  /** Whether the current piece ends with LF. */
  endsLine = false;

  constructor(fd: number, from: number, limit: number, bufferSize = LINE_READER_BUFFER) {
    this.#fd = fd;
    this.#base = from;
    this.#limit = limit;
    this.#buf = Buffer.alloc(bufferSize);
    this.#words = new Uint32Array(this.#buf.buffer, this.#buf.byteOffset, bufferSize >> 2);
  }

  #fill(): void {
    const want = Math.min(this.#buf.length - this.#len, this.#limit - (this.#base + this.#len));
    if (want <= 0) {
      this.#eof = true;
      return;
    }
    const n = readSync(this.#fd, this.#buf, this.#len, want, this.#base + this.#len);
    if (n === 0) this.#eof = true; // the file shrank under us: stop here
    this.#len += n;
  }

  #emit(from: number, to: number, endsLine: boolean): true {
    this.offset = this.#base + from;
    this.view = this.#buf.subarray(from, to);
    this.lineStart = this.#nextStartsLine;
    this.endsLine = endsLine;
    this.#nextStartsLine = endsLine;
    this.#pos = to;
    return true;
  }

  /** Whether the next piece starts a line. */
  get atLineStart(): boolean {
    return this.#nextStartsLine;
  }

  /** File offset of the next piece. */
  get nextOffset(): number {
    return this.#base + this.#pos;
  }

  /**
   * Skips whole lines fast (message bodies): stops at the end, at a line that starts with
   * "F" (it may be a From_ line: the caller reads it with next()), or at the first line
   * start at or after `stopAt`. Call it at a line start only. Adds what it skipped to `acc`.
   */
  skipLines(stopAt: number, acc: SkipTally): void {
    const buf = this.#buf;
    for (;;) {
      if (this.#pos >= this.#len) {
        if (this.#eof || this.#base + this.#len >= this.#limit) {
          this.#eof = true;
          break;
        }
        this.#base += this.#len;
        this.#len = 0;
        this.#pos = 0;
        this.#fill();
        continue;
      }
      const i = this.#pos;
      const len = this.#len;
      if (buf[i] === 0x46 || this.#base + i >= stopAt) break;
      // The first line start that must stop us: one beginning with "F", or the first at or after stopAt.
      let stop = len + 1;
      const f = buf.subarray(i, len).indexOf(NL_F);
      if (f >= 0) stop = i + f + 1;
      const k = stopAt - this.#base - 1;
      if (k < len) {
        const lf = buf.indexOf(10, Math.max(i, k));
        if (lf >= 0 && lf + 1 <= len && lf + 1 < stop) stop = lf + 1;
      }
      const end = stop <= len ? stop : buf.lastIndexOf(10, len - 1) + 1;
      if (end <= i) break; // a line longer than what is left in the buffer: next() reads it whole
      tallyLines(buf, this.#words, i, end, acc);
      this.#pos = end;
      if (stop <= len && stop < len) break;
      if (end < len) break; // an incomplete line follows: next() reads it
    }
    this.#nextStartsLine = true;
  }

  /** Moves to the next piece; false at the end. */
  next(): boolean {
    for (;;) {
      if (this.#pos < this.#len) {
        const lf = this.#buf.indexOf(10, this.#pos);
        if (lf >= 0 && lf < this.#len) return this.#emit(this.#pos, lf + 1, true);
        if (this.#eof) return this.#emit(this.#pos, this.#len, false);
        if (this.#pos > 0) {
          this.#buf.copyWithin(0, this.#pos, this.#len);
          this.#base += this.#pos;
          this.#len -= this.#pos;
          this.#pos = 0;
          this.#fill();
          continue;
        }
        if (this.#len === this.#buf.length) return this.#emit(0, this.#len, false);
        this.#fill();
        continue;
      }
      if (this.#eof) return false;
      this.#base += this.#len;
      this.#len = 0;
      this.#pos = 0;
      this.#fill();
    }
  }
}

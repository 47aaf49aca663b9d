/**
 * Reads a file line by line through one reusable buffer, with positioned reads up to a
 * fixed length (the spool's size when it was locked). A line longer than the buffer
 * comes out in pieces; `lineStart` tells the first piece from the rest.
 */
import { readSync } from "node:fs";

export const LINE_READER_BUFFER = 1 << 20;

export class LineReader {
  readonly #fd: number;
  readonly #limit: number;
  readonly #buf: Buffer;
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
    this.#buf = Buffer.allocUnsafe(bufferSize);
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

import { readSync } from "node:fs";
import { describeSysError, TempError } from "../base/errors.ts";

const CHUNK = 1 << 16;

/** Buffered sequential reads from an fd (stdin may be a pipe); -1 at end of input. */
export class ByteSource {
  readonly #fd: number;
  readonly #buffer = new Uint8Array(CHUNK);
  #start = 0;
  #end = 0;
  #eof = false;

  constructor(fd: number) {
    this.#fd = fd;
  }

  #fill(): boolean {
    if (this.#eof) return false;
    for (;;) {
      try {
        const n = readSync(this.#fd, this.#buffer, 0, CHUNK, null);
        this.#start = 0;
        this.#end = n;
        if (n === 0) this.#eof = true;
        return n > 0;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "EINTR") continue;
        if (code === "EAGAIN") {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // non-blocking stdin: wait, retry
          continue;
        }
        throw new TempError(`unable to read input: ${describeSysError(err)}`);
      }
    }
  }

  byte(): number {
    if (this.#start === this.#end && !this.#fill()) return -1;
    return this.#buffer[this.#start++];
  }

  /** Up to `max` bytes (a view valid until the next call), or null at end of input. */
  chunk(max: number): Uint8Array | null {
    if (this.#start === this.#end && !this.#fill()) return null;
    const n = Math.min(max, this.#end - this.#start);
    const view = this.#buffer.subarray(this.#start, this.#start + n);
    this.#start += n;
    return view;
  }
}

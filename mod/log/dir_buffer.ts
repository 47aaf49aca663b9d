/**
 * The output side of one log directory, reproducing where daemontools multilog cuts
 * its files. multilog writes through a 512-byte djb buffer whose write function
 * (c_write) clips each write at the size limit and, once current is within 2000
 * bytes of it, at the last newline of that write, and rotates after a write that ends
 * a line in that zone. So where a file ends depends on how the bytes were grouped
 * into writes; we compute the same grouping (the `put`, `putc` and flush calls that
 * multilog makes) but only count, and write the bytes in large batches between
 * rotations. The result on disk is byte-identical to multilog fed the same reads.
 */
import type { Cyclog } from "./cyclog.ts";

/** sizeof(struct cyclog.buf) in multilog.c. */
const BUFFER_SIZE = 512;
/** multilog starts looking for a line end to rotate at this many bytes before the limit. */
const ROTATE_ZONE = 2000;
const NEWLINE = 0x0a;

export class DirBuffer {
  private out = new Uint8Array(1 << 17);
  /** Bytes held: [0, written) on disk, [written, emitted) handed to c_write, [emitted, length) in the djb buffer. */
  private length = 0;
  private emitted = 0;
  private written = 0;

  constructor(readonly log: Cyclog) {}

  private reserve(extra: number): void {
    if (this.length + extra <= this.out.length) return;
    const bigger = new Uint8Array(Math.max(this.out.length * 2, this.length + extra));
    bigger.set(this.out.subarray(0, this.length));
    this.out = bigger;
  }

  /** buffer_put(&ss, head + body): the first (at most 1000) bytes of a line. */
  putLine(head: Uint8Array | null, body: Uint8Array, start: number, end: number): void {
    const headLength = head === null ? 0 : head.length;
    const len = headLength + end - start;
    const buffered = this.length - this.emitted;
    const spill = len > BUFFER_SIZE - buffered;
    if (spill && buffered > 0) this.emit(buffered);
    this.reserve(len);
    if (head !== null) this.out.set(head, this.length);
    this.out.set(body.subarray(start, end), this.length + headLength);
    this.length += len;
    if (spill && len > BUFFER_SIZE) this.emit(len);
  }

  /** buffer_PUTC(&ss, ch). */
  putByte(ch: number): void {
    if (this.length - this.emitted === BUFFER_SIZE) this.emit(BUFFER_SIZE);
    this.reserve(1);
    this.out[this.length++] = ch;
  }

  /** buffer_PUTC for each byte of src[start, end): the rest of a line over 1000 bytes. */
  putBytes(src: Uint8Array, start: number, end: number): void {
    this.reserve(end - start);
    while (start < end) {
      let buffered = this.length - this.emitted;
      if (buffered === BUFFER_SIZE) {
        this.emit(BUFFER_SIZE);
        buffered = 0;
      }
      const take = Math.min(BUFFER_SIZE - buffered, end - start);
      this.out.set(src.subarray(start, start + take), this.length);
      this.length += take;
      start += take;
    }
  }

  /** buffer_flush(&ss), as multilog does before every read. */
  flush(): void {
    const buffered = this.length - this.emitted;
    if (buffered > 0) this.emit(buffered);
  }

  /** Writes everything handed to c_write so far to current. */
  sync(): void {
    this.writeUpTo(this.emitted);
    if (this.written === this.length) {
      this.length = this.emitted = this.written = 0;
    }
  }

  private writeUpTo(end: number): void {
    if (end > this.written) this.log.write(this.out, this.written, end);
    this.written = end;
  }

  private lastNewline(start: number, end: number): number {
    for (let i = end - 1; i >= start; i--) if (this.out[i] === NEWLINE) return i;
    return -1;
  }

  /** allwrite(c_write, ...) of the next `count` bytes: multilog's rotation decisions. */
  private emit(count: number): void {
    const log = this.log;
    let s = this.emitted;
    const e = s + count;
    while (s < e) {
      if (log.bytes >= log.size) {
        this.writeUpTo(s);
        log.rotate();
      }
      let n = Math.min(e - s, log.size - log.bytes);
      if (log.bytes + n >= log.size - ROTATE_ZONE) {
        const nl = this.lastNewline(s, s + n);
        if (nl >= 0) n = nl - s + 1;
      }
      s += n;
      log.bytes += n;
      if (log.bytes >= log.size - ROTATE_ZONE && this.out[s - 1] === NEWLINE) {
        this.writeUpTo(s);
        log.rotate();
      }
    }
    this.emitted = e;
  }
}

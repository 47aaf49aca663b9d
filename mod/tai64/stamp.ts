/**
 * tai64n's transformation, sans I/O: put a label and a space in front of every line.
 * A final line without a newline is passed on without one, as daemontools' tai64n does.
 */
const NEWLINE = 0x0a;

export class LineStamper {
  private atLineStart = true;
  private out = new Uint8Array(1 << 16);

  /** Returns the stamped bytes for `chunk`; every line that starts in it gets `stamp` (26 bytes). */
  feed(chunk: Uint8Array, stamp: Uint8Array): Uint8Array {
    // Worst case: every byte a newline, each line gaining a stamp.
    const need = chunk.length * (stamp.length + 1) + stamp.length;
    if (this.out.length < need) this.out = new Uint8Array(need);
    const out = this.out;
    let o = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.atLineStart) {
        out.set(stamp, o);
        o += stamp.length;
        this.atLineStart = false;
      }
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      out.set(chunk.subarray(pos, end), o);
      o += end - pos;
      pos = end;
      if (nl >= 0) this.atLineStart = true;
    }
    return out.subarray(0, o);
  }
}

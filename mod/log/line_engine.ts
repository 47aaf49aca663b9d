/**
 * multilog's line loop (doit in multilog.c), sans I/O: cuts the input into lines, runs
 * each through the script (+/- selection, e, =, directories) and hands the bytes to
 * each selected directory the way multilog does: the first 1000 bytes of a line
 * (label included) in one put, the rest of a longer line byte by byte, then the
 * newline. Lines are never split; a final line without a newline gets one.
 *
 * multilog flushes its directory buffers before each read of at most 1024 bytes, and
 * where it flushes decides where files are cut; we read larger chunks and replay the
 * flushes at the same 1024-byte offsets, which is what multilog does on such input.
 */
import { STAMP_LENGTH } from "../tai64/label.ts";
import type { DirBuffer } from "./dir_buffer.ts";
import { patternMatches } from "./pattern.ts";
import type { Script } from "./script.ts";
import type { StatusFile } from "./status_file.ts";

/** multilog's line[1001]: at most 1000 bytes of a line are looked at. */
export const MAX_LINE = 1000;
/** multilog's inbuf[1024]. */
export const READ_SIZE = 1024;
/** `e` copies at most this much of a line, then "...". */
const STDERR_LIMIT = 200;
const NEWLINE = 0x0a;
const ELLIPSIS = new TextEncoder().encode("...\n");
const NEWLINE_ONLY = new Uint8Array([NEWLINE]);

export class LineEngine {
  /** The line being assembled across reads, or a contiguous copy for matching. */
  private readonly line = new Uint8Array(MAX_LINE + 1).fill(NEWLINE);
  /** Bytes of a line carried over from an earlier chunk (label included). */
  private carried = 0;
  /** Inside the part of a line beyond its first 1000 bytes. */
  private inTail = false;
  private readonly tailSelected: boolean[];
  private readonly dirSelected: boolean[];
  /** No +, -, e or = in the script: every line goes to every directory unread. */
  private readonly simple: boolean;
  private readonly stampLength: number;
  private nextFlush = READ_SIZE;
  private stderrPieces: Uint8Array[] = [];

  constructor(
    private readonly script: Script,
    private readonly dirs: DirBuffer[],
    private readonly status: StatusFile[],
    private readonly writeStderr: (bytes: Uint8Array) => void,
  ) {
    this.tailSelected = dirs.map(() => true);
    this.dirSelected = dirs.map(() => true);
    this.simple = script.actions.every((a) => a.kind === "dir");
    this.stampLength = script.timestamp ? STAMP_LENGTH : 0;
  }

  /** Processes one read; `stamp` is the label and space for lines that start in it. */
  feed(chunk: Uint8Array, stamp: Uint8Array): void {
    const n = chunk.length;
    let pos = 0;
    this.nextFlush = READ_SIZE;
    while (pos < n) {
      if (this.inTail) {
        pos = this.feedTail(chunk, pos);
        continue;
      }
      const used = this.carried > 0 ? this.carried : this.stampLength;
      const room = MAX_LINE - used;
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl < 0 ? n : nl;
      if (end - pos < room && nl < 0) {
        this.carry(chunk, pos, n, stamp);
        return;
      }
      const long = end - pos >= room;
      const headEnd = long ? pos + room : nl;
      this.reached(long ? headEnd - 1 : nl);
      if (this.carried > 0) {
        this.line.set(chunk.subarray(pos, headEnd), this.carried);
        const length = this.carried + headEnd - pos;
        this.carried = 0;
        this.completeHead(null, this.line, 0, length, long);
        this.line.fill(NEWLINE, 0, length);
      } else {
        this.completeHead(this.stampLength > 0 ? stamp : null, chunk, pos, headEnd, long);
      }
      pos = long ? headEnd : nl + 1;
    }
  }

  /** End of input: the unfinished line gets its newline (multilog adds one). */
  finish(): void {
    if (this.inTail) {
      this.inTail = false;
      for (let j = 0; j < this.dirs.length; j++) if (this.tailSelected[j]) this.dirs[j].putByte(NEWLINE);
    } else if (this.carried > 0) {
      const length = this.carried;
      this.carried = 0;
      this.completeHead(null, this.line, 0, length, false);
      this.line.fill(NEWLINE, 0, length);
    }
  }

  /** multilog's flushread: directory buffers and status files out, e output written. */
  flush(): void {
    for (const dir of this.dirs) {
      dir.flush();
      dir.sync();
    }
    for (const file of this.status) file.flush();
    if (this.stderrPieces.length > 0) {
      const pieces = this.stderrPieces;
      this.stderrPieces = [];
      this.writeStderr(Buffer.concat(pieces));
    }
  }

  private carry(chunk: Uint8Array, pos: number, end: number, stamp: Uint8Array): void {
    if (this.carried === 0 && this.stampLength > 0) {
      this.line.set(stamp);
      this.carried = this.stampLength;
    }
    this.line.set(chunk.subarray(pos, end), this.carried);
    this.carried += end - pos;
  }

  /** The byte at chunk offset `at` was read: replay the flush multilog made before that read. */
  private reached(at: number): void {
    if (at < this.nextFlush) return;
    for (const dir of this.dirs) dir.flush();
    this.nextFlush = (Math.floor(at / READ_SIZE) + 1) * READ_SIZE;
  }

  private feedTail(chunk: Uint8Array, pos: number): number {
    const nl = chunk.indexOf(NEWLINE, pos);
    const end = nl < 0 ? chunk.length : nl;
    let a = pos;
    while (a < end) {
      this.reached(a);
      const b = Math.min(end, this.nextFlush);
      for (let j = 0; j < this.dirs.length; j++) if (this.tailSelected[j]) this.dirs[j].putBytes(chunk, a, b);
      a = b;
    }
    if (nl < 0) return chunk.length;
    this.reached(nl);
    for (let j = 0; j < this.dirs.length; j++) if (this.tailSelected[j]) this.dirs[j].putByte(NEWLINE);
    this.inTail = false;
    return nl + 1;
  }

  /** The first (at most 1000) bytes of a line are known: run the script, hand them out. */
  private completeHead(prefix: Uint8Array | null, body: Uint8Array, start: number, end: number, long: boolean): void {
    const selected = this.dirSelected;
    if (!this.simple) {
      let line = body;
      let length = end - start;
      if (prefix !== null || start !== 0) {
        const prefixLength = prefix === null ? 0 : prefix.length;
        if (prefix !== null) this.line.set(prefix);
        this.line.set(body.subarray(start, end), prefixLength);
        line = this.line;
        length += prefixLength;
      }
      this.runActions(line, length);
      if (line === this.line && body !== this.line) this.line.fill(NEWLINE, 0, length);
    }
    for (let j = 0; j < this.dirs.length; j++) {
      if (!selected[j]) continue;
      this.dirs[j].putLine(prefix, body, start, end);
      if (!long) this.dirs[j].putByte(NEWLINE);
    }
    if (long) {
      this.inTail = true;
      for (let j = 0; j < selected.length; j++) this.tailSelected[j] = selected[j];
    }
  }

  private runActions(line: Uint8Array, length: number): void {
    let selected = true;
    for (const action of this.script.actions) {
      switch (action.kind) {
        case "select":
          if (!selected && patternMatches(action.pattern, line, length)) selected = true;
          break;
        case "deselect":
          if (selected && patternMatches(action.pattern, line, length)) selected = false;
          break;
        case "stderr":
          if (selected) {
            const shown = Math.min(length, STDERR_LIMIT);
            this.stderrPieces.push(line.slice(0, shown), length > STDERR_LIMIT ? ELLIPSIS : NEWLINE_ONLY);
          }
          break;
        case "status":
          if (selected) this.status[action.file].set(line, length);
          break;
        case "dir":
          this.dirSelected[action.dir] = selected;
          break;
      }
    }
  }
}

/**
 * tai64nlocal's transformation, sans I/O, byte for byte as daemontools 0.76 does it:
 * a line starting with "@" has its run of lowercase hex digits read as a label (the
 * last 8 digits are the nanoseconds, the ones before the seconds, with 64-bit
 * wrap-around for longer runs), printed as local time "YYYY-MM-DD HH:MM:SS.nnnnnnnnn"
 * followed by the rest of the line; other lines pass unchanged. A label cut off by the
 * end of input is dropped, as daemontools exits there.
 *
 * One deliberate difference: where the C library cannot convert the seconds (a year
 * beyond an int: "@", "@x", short or corrupt labels) daemontools dereferences NULL and
 * dies with SIGSEGV, losing buffered output; we pass the label through unchanged.
 */
import type { BrokenDownTime } from "../sys/localtime.ts";
import { TAI64_UNIX_OFFSET } from "./label.ts";

const NEWLINE = 0x0a;
const AT = 0x40;

/** Converts Unix seconds to broken-down local time, or null when impossible (localtime_r). */
export type LocalTimeFn = (secs: bigint) => BrokenDownTime | null;

const enum State {
  LineStart,
  Label,
  Copy,
}

function digitValue(ch: number): number {
  if (ch >= 0x30 && ch <= 0x39) return ch - 0x30;
  if (ch >= 0x61 && ch <= 0x66) return ch - 0x61 + 10;
  return -1;
}

function pad(value: number, width: number): string {
  const s = String(value);
  return s.length >= width ? s : "0".repeat(width - s.length) + s;
}

export class LabelLocalizer {
  private state = State.LineStart;
  private secsHigh = 0;
  private secsLow = 0;
  private nanos = 0;
  /** The label's bytes as read, to pass on when it cannot be converted. */
  private labelBytes: number[] = [];
  private out = new Uint8Array(1 << 16);
  private o = 0;
  private cachedSecs: bigint | undefined;
  private cachedPrefix: Uint8Array | undefined;

  constructor(private readonly localTime: LocalTimeFn) {}

  private ensure(extra: number): void {
    if (this.o + extra <= this.out.length) return;
    const bigger = new Uint8Array(Math.max(this.out.length * 2, this.o + extra));
    bigger.set(this.out.subarray(0, this.o));
    this.out = bigger;
  }

  private emit(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.out.set(bytes, this.o);
    this.o += bytes.length;
  }

  /** "YYYY-MM-DD HH:MM:SS." for `secs`, or null when localtime refuses it. */
  private datePrefix(secs: bigint): Uint8Array | null {
    if (secs === this.cachedSecs && this.cachedPrefix) return this.cachedPrefix;
    const t = this.localTime(secs);
    if (t === null) return null;
    // fmt_ulong(1900UL + tm_year): unsigned long arithmetic, so negative years wrap.
    const year = BigInt.asUintN(64, 1900n + BigInt(t.year)).toString();
    const text = `${year}-${pad(t.mon + 1, 2)}-${pad(t.mday, 2)} ${pad(t.hour, 2)}:${pad(t.min, 2)}:${pad(t.sec, 2)}.`;
    this.cachedSecs = secs;
    this.cachedPrefix = Buffer.from(text, "latin1");
    return this.cachedPrefix;
  }

  private finishLabel(): void {
    const raw = BigInt.asIntN(64, (BigInt(this.secsHigh) << 32n) | BigInt(this.secsLow));
    const secs = BigInt.asIntN(64, raw - TAI64_UNIX_OFFSET);
    const prefix = this.datePrefix(secs);
    if (prefix === null) {
      this.emit(Uint8Array.from(this.labelBytes));
    } else {
      this.emit(prefix);
      this.emit(Buffer.from(pad(this.nanos, 9), "latin1"));
    }
    this.labelBytes = [];
  }

  private addDigit(value: number): void {
    // secs <<= 4; secs += nanosecs >> 28; nanosecs = (nanosecs & 0xfffffff) << 4 | value
    const carry = this.nanos >>> 28;
    this.nanos = (((this.nanos & 0xfffffff) << 4) >>> 0) + value;
    this.secsHigh = ((this.secsHigh << 4) | (this.secsLow >>> 28)) >>> 0;
    this.secsLow = (((this.secsLow << 4) >>> 0) + carry) >>> 0;
  }

  /** Converts a chunk; returns the output so far (valid until the next call). */
  feed(chunk: Uint8Array): Uint8Array {
    this.o = 0;
    this.ensure(chunk.length);
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.state === State.LineStart) {
        if (chunk[pos] === AT) {
          this.state = State.Label;
          this.secsHigh = this.secsLow = this.nanos = 0;
          this.labelBytes = [AT];
          pos++;
          continue;
        }
        this.state = State.Copy;
      }
      if (this.state === State.Label) {
        const ch = chunk[pos];
        const value = digitValue(ch);
        if (value >= 0) {
          this.addDigit(value);
          this.labelBytes.push(ch);
          pos++;
          continue;
        }
        this.finishLabel();
        this.state = State.Copy; // the byte that ended the label is copied, newline or not
      }
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl < 0 ? n : nl + 1;
      this.emit(chunk.subarray(pos, end));
      pos = end;
      if (nl >= 0) this.state = State.LineStart;
    }
    return this.out.subarray(0, this.o);
  }
}

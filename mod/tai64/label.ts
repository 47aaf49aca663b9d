/**
 * TAI64N labels as daemontools writes them: "@" and 24 lowercase hex digits, the
 * 8-byte TAI64 second count then the 4-byte nanosecond count, big-endian.
 * daemontools has no leap-second table: TAI = UTC + 10 s always (taia_now adds
 * 2^62 + 10 to the Unix time), and tai64nlocal subtracts the same constant.
 */
import { wallClock, type WallTime } from "../sys/clock.ts";

/** 2^62 + 10: TAI64 label of the Unix epoch in daemontools' arithmetic. */
export const TAI64_UNIX_OFFSET = 4611686018427387914n;
/** "@" + 24 hex digits. */
export const LABEL_LENGTH = 25;
/** The label and the space that tai64n and multilog's `t` put after it. */
export const STAMP_LENGTH = 26;

const HEX = new TextEncoder().encode("0123456789abcdef");
/** Two hex digits per byte value, for formatting without strings. */
const HEX_PAIRS = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  HEX_PAIRS[i * 2] = HEX[i >> 4];
  HEX_PAIRS[i * 2 + 1] = HEX[i & 15];
}

function putHex32(out: Uint8Array, at: number, value: number): void {
  for (let shift = 24, i = at; shift >= 0; shift -= 8, i += 2) {
    const byte = (value >>> shift) & 0xff;
    out[i] = HEX_PAIRS[byte * 2];
    out[i + 1] = HEX_PAIRS[byte * 2 + 1];
  }
}

/** Writes the 25-byte label of Unix time `sec` + `nsec` into `out` at `at`. */
export function formatLabel(out: Uint8Array, at: number, time: WallTime): void {
  const taiSeconds = time.sec + 10; // below 2^53, so exact as a double
  const high = 0x40000000 + Math.floor(taiSeconds / 0x100000000);
  const low = taiSeconds % 0x100000000;
  out[at] = 0x40; // "@"
  putHex32(out, at + 1, high);
  putHex32(out, at + 9, low >>> 0);
  putHex32(out, at + 17, time.nsec >>> 0);
}

/** The label and a space (26 bytes) for `time`, as `t` and tai64n prefix lines. */
export function stampFor(time: WallTime): Uint8Array {
  const stamp = new Uint8Array(STAMP_LENGTH);
  formatLabel(stamp, 0, time);
  stamp[LABEL_LENGTH] = 0x20;
  return stamp;
}

/** The label of now, as a string (for callers that need one, such as rotated file names). */
export function labelNow(clock: () => WallTime = wallClock): string {
  const out = new Uint8Array(LABEL_LENGTH);
  formatLabel(out, 0, clock());
  return String.fromCharCode(...out);
}

/** Parses a 25-byte label back to Unix seconds and nanoseconds; undefined if it is not one. */
export function parseLabel(text: string): WallTime | undefined {
  if (!/^@[0-9a-f]{24}$/.test(text)) return undefined;
  const tai = BigInt(`0x${text.slice(1, 17)}`);
  return { sec: Number(tai - TAI64_UNIX_OFFSET), nsec: Number.parseInt(text.slice(17), 16) };
}

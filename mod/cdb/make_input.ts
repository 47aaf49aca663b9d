import { PoppinError, TempError } from "../base/errors.ts";
import { ByteSource } from "./byte_source.ts";
import { CDB_HASH_START } from "./hash.ts";
import type { CdbWriter } from "./writer.ts";

/**
 * Debian freecdb's cdbmake refuses a key or data length above this with "out of memory"
 * (measured: 4294967209 passes, 4294967210 does not), before reading the record.
 */
export const CDBMAKE_MAX_LENGTH = 4294967209;

const PLUS = 0x2b, COMMA = 0x2c, COLON = 0x3a, MINUS = 0x2d, GREATER = 0x3e, NEWLINE = 0x0a;

/** A malformed cdbmake input; the message is freecdb's ("entry 3: newline expected"). */
export class CdbInputError extends TempError {
  constructor(entry: number, what: string) {
    super(`unable to read input: entry ${entry}: ${what}`);
  }
}

/** A length freecdb's cdbmake would refuse as "out of memory". */
export class CdbLengthError extends PoppinError {
  constructor(tmpPath: string, entry: number) {
    super(`unable to create ${tmpPath}: out of memory (entry ${entry}: the cdb format is limited to 4 GiB)`, 111);
  }
}

/**
 * Reads cdbmake's input, `+klen,dlen:key->data\n` per record and an empty line at the
 * end, into `writer`, streaming keys and data (a 4 GiB record never sits in memory).
 * Errors carry freecdb's wording; bytes after the final empty line are ignored, as there.
 * Returns the number of records.
 */
export function readCdbmakeInput(source: ByteSource, writer: CdbWriter): number {
  for (let entry = 1; ; entry++) {
    const first = source.byte();
    if (first === -1) throw new CdbInputError(entry, "unexpected end if input"); // sic, freecdb's wording
    if (first === NEWLINE) return entry - 1;
    if (first !== PLUS) throw new CdbInputError(entry, "entry must start with +");
    const keyLength = readLength(source, COMMA, entry, "bad keylen format", writer.tmpPath);
    const dataLength = readLength(source, COLON, entry, "bad datalen format", writer.tmpPath);
    if (!writer.fits(keyLength, dataLength)) {
      // Past 4 GiB: read the record to its end without storing it, so a short input still
      // gets freecdb's "unexpected end", then refuse.
      skipRecord(source, keyLength, dataLength, entry);
      throw new CdbLengthError(writer.tmpPath, entry);
    }
    writer.beginRecord(keyLength, dataLength);
    const hash = copyBytes(source, writer, keyLength, entry, true);
    expect(source, MINUS, entry, "key must be followed by ->");
    expect(source, GREATER, entry, "key must be followed by ->");
    copyBytes(source, writer, dataLength, entry, false);
    expect(source, NEWLINE, entry, "newline expected");
    writer.endRecord(hash);
  }
}

function readLength(source: ByteSource, terminator: number, entry: number, bad: string, tmpPath: string): number {
  let value = 0;
  for (;;) {
    const c = source.byte();
    if (c === -1) throw new CdbInputError(entry, "unexpected end if input");
    if (c === terminator) return value;
    if (c < 0x30 || c > 0x39) throw new CdbInputError(entry, bad);
    value = value * 10 + (c - 0x30);
    if (value > CDBMAKE_MAX_LENGTH) throw new CdbLengthError(tmpPath, entry);
  }
}

function expect(source: ByteSource, wanted: number, entry: number, what: string): void {
  const c = source.byte();
  if (c === -1) throw new CdbInputError(entry, "unexpected end if input");
  if (c !== wanted) throw new CdbInputError(entry, what);
}

function skipBytes(source: ByteSource, length: number, entry: number): void {
  for (let left = length; left > 0;) {
    const chunk = source.chunk(Math.min(left, 1 << 16));
    if (chunk === null) throw new CdbInputError(entry, "unexpected end if input");
    left -= chunk.length;
  }
}

function skipRecord(source: ByteSource, keyLength: number, dataLength: number, entry: number): void {
  skipBytes(source, keyLength, entry);
  expect(source, MINUS, entry, "key must be followed by ->");
  expect(source, GREATER, entry, "key must be followed by ->");
  skipBytes(source, dataLength, entry);
  expect(source, NEWLINE, entry, "newline expected");
}

/** Copies `length` bytes to the writer; returns the cdb hash of them when `hashing`. */
function copyBytes(source: ByteSource, writer: CdbWriter, length: number, entry: number, hashing: boolean): number {
  let h = CDB_HASH_START;
  let left = length;
  while (left > 0) {
    const chunk = source.chunk(left);
    if (chunk === null) throw new CdbInputError(entry, "unexpected end if input");
    if (hashing) for (let i = 0; i < chunk.length; i++) h = (((h << 5) + h) ^ chunk[i]) >>> 0;
    writer.writeRecordBytes(chunk);
    left -= chunk.length;
  }
  return h;
}

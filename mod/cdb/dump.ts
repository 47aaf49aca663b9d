import { TempError } from "../base/errors.ts";
import { ByteSource } from "./byte_source.ts";
import { CDB_HEADER_SIZE } from "./hash.ts";

const COPY_CHUNK = 1 << 16;
const encoder = new TextEncoder();

/** Where dump output goes: called with byte chunks, in order. */
export type ByteSink = (bytes: Uint8Array) => void;

function truncated(): TempError {
  return new TempError("unable to read input: truncated file");
}

/** Fills `into` completely or throws "truncated file" (nothing partial is passed on). */
function readFully(source: ByteSource, into: Uint8Array): void {
  let done = 0;
  while (done < into.length) {
    const chunk = source.chunk(into.length - done);
    if (chunk === null) throw truncated();
    into.set(chunk, done);
    done += chunk.length;
  }
}

/**
 * cdbdump: reads a cdb sequentially (a pipe will do) and writes every record as
 * `+klen,dlen:key->data\n` in file order, then an empty line: cdbmake's input format,
 * so `cdbdump | cdbmake` copies a database. As djb's and freecdb's cdbdump, the records
 * end where the first table (position in the first header word) starts.
 */
export function cdbDump(source: ByteSource, sink: ByteSink): void {
  const header = new Uint8Array(CDB_HEADER_SIZE);
  readFully(source, header);
  const end = new DataView(header.buffer).getUint32(0, true);
  let pos = CDB_HEADER_SIZE;
  const lengths = new Uint8Array(8);
  const view = new DataView(lengths.buffer);
  const chunk = new Uint8Array(COPY_CHUNK);
  const copy = (length: number): void => {
    for (let left = length; left > 0;) {
      const n = Math.min(left, COPY_CHUNK);
      const part = chunk.subarray(0, n);
      readFully(source, part);
      sink(part);
      left -= n;
    }
  };
  while (pos < end) {
    readFully(source, lengths);
    const keyLength = view.getUint32(0, true);
    const dataLength = view.getUint32(4, true);
    sink(encoder.encode(`+${keyLength},${dataLength}:`));
    copy(keyLength);
    sink(encoder.encode("->"));
    copy(dataLength);
    sink(encoder.encode("\n"));
    pos += 8 + keyLength + dataLength;
  }
  sink(encoder.encode("\n"));
}

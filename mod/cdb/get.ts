import type { CdbReader } from "./reader.ts";
import type { ByteSink } from "./dump.ts";

const COPY_CHUNK = 1 << 16;

/**
 * cdbget: writes the value of `key` after skipping `skip` earlier values of the same key.
 * Returns false when there is no such value (cdbget then exits 100 without a word).
 */
export function cdbGet(reader: CdbReader, key: Uint8Array, skip: bigint, sink: ByteSink): boolean {
  let found = reader.findPosition(key);
  for (let left = skip; found && left > 0n; left--) found = reader.findNextPosition();
  if (!found) return false;
  const chunk = new Uint8Array(Math.min(COPY_CHUNK, Math.max(reader.dataLength, 1)));
  for (let done = 0; done < reader.dataLength;) {
    const n = Math.min(chunk.length, reader.dataLength - done);
    reader.readAt(chunk, n, reader.dataPos + done);
    sink(chunk.subarray(0, n));
    done += n;
  }
  return true;
}

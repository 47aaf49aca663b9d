/** Seeded generators of cdbmake inputs for the cdb tests (same corpus every run). */

import { prng } from "../prng.ts";

export { prng };

export type Rng = () => number;
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
export const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

export function randomBytes(rng: Rng, length: number, alphabet?: string): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = alphabet ? alphabet.charCodeAt(int(rng, 0, alphabet.length - 1)) : int(rng, 0, 255);
  return out;
}

export interface CdbRecord { key: Uint8Array; data: Uint8Array }

/** A record set: short and long keys, binary bytes, empty keys and values, duplicate keys. */
export function recordSet(rng: Rng): CdbRecord[] {
  const count = pick(rng, [0, 1, 2, 5, 20, 100, 300, int(rng, 1, 1500)]);
  const records: CdbRecord[] = [];
  for (let i = 0; i < count; i++) {
    if (records.length > 0 && rng() < 0.15) {
      records.push({ key: pick(rng, records).key, data: randomBytes(rng, int(rng, 0, 20)) }); // duplicate key
      continue;
    }
    const binary = rng() < 0.3;
    const key = randomBytes(rng, pick(rng, [0, 1, 3, 8, 16, int(rng, 0, 300)]), binary ? undefined : "abcdefghijklmnopqrstuvwxyz0123456789.-@=+:>\n ");
    const data = randomBytes(rng, pick(rng, [0, 1, 10, int(rng, 0, 2000)]), binary ? undefined : "xyz \n->+,:");
    records.push({ key, data });
  }
  return records;
}

/** cdbmake's input for records: +klen,dlen:key->data\n ... \n */
export function cdbmakeInput(records: CdbRecord[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const r of records) {
    parts.push(enc.encode(`+${r.key.length},${r.data.length}:`), r.key, enc.encode("->"), r.data, enc.encode("\n"));
  }
  parts.push(enc.encode("\n"));
  return Buffer.concat(parts);
}

/** A broken variant of a valid input: truncated, a byte replaced, a line without its +, a bad length... */
export function breakInput(rng: Rng, input: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  switch (int(rng, 0, 7)) {
    case 0: return input.subarray(0, int(rng, 0, Math.max(0, input.length - 1)));
    case 1: {
      const copy = input.slice();
      if (copy.length > 0) copy[int(rng, 0, copy.length - 1)] = pick(rng, [0x2b, 0x2c, 0x3a, 0x2d, 0x3e, 0x0a, 0x78, 0x20, 0x39]);
      return copy;
    }
    case 2: return Buffer.concat([input.subarray(0, Math.max(0, input.length - 1)), enc.encode("x")]);
    case 3: return Buffer.concat([enc.encode("+1,1:a->b\n"), enc.encode(pick(rng, ["-1,1:a->b\n\n", "+1;1:a->b\n\n", "+1,1;a->b\n\n", "+x,1:a->b\n\n", "+1,1:a=>b\n\n", "+1,1:a->bc\n\n", "+1,2:a->b\n\n", "+ 1,1:a->b\n\n"]))]);
    case 4: return enc.encode(pick(rng, ["+99999999999,1:a->b\n\n", "+1,4294967210:a->b\n\n", "+4294967209,0:", "+12345678901234567890,1", "+4294967296,1:a->b\n\n"]));
    case 5: return enc.encode(pick(rng, ["", "+", "+1", "+1,", "+1,1", "+1,1:", "+1,1:a", "+1,1:a-", "+1,1:a->", "+1,1:a->b"]));
    case 6: return Buffer.concat([input, enc.encode("trailing garbage after the end\n")]); // valid: ignored
    default: return enc.encode("+01,002:a->bc\n\n"); // valid: leading zeros
  }
}

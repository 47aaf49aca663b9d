/**
 * djb's cdb hash: h = 5381; h = ((h << 5) + h) ^ byte, kept to 32 bits.
 * The low 8 bits pick one of the 256 tables, the rest the starting slot.
 */
export const CDB_HASH_START = 5381;

export function cdbHash(key: Uint8Array): number {
  let h = CDB_HASH_START;
  for (let i = 0; i < key.length; i++) {
    h = (((h << 5) + h) ^ key[i]) >>> 0;
  }
  return h;
}

/** Size of the header: 256 (table position, slot count) pairs of 32-bit little-endian words. */
export const CDB_HEADER_SIZE = 2048;
/** The format addresses everything with 32-bit offsets: a cdb can never reach 4 GiB. */
export const CDB_MAX_SIZE = 0xffffffff;

/** The compiled virtual-user database: a cdb (mod/cdb) keyed by login. */
import { TempError } from "../base/errors.ts";
import { CdbReader } from "../cdb/reader.ts";

/** The value stored for `login`, or undefined. Any trouble reading is temporary (exit 111). */
export function cdbLookupFile(path: string, login: Uint8Array): Uint8Array | undefined {
  let reader: CdbReader;
  try {
    reader = CdbReader.open(path);
  } catch (err) {
    throw new TempError((err as Error).message);
  }
  try {
    return reader.find(login) ?? undefined;
  } catch (err) {
    throw new TempError(`unable to read ${path}: ${(err as Error).message}`);
  } finally {
    reader.close();
  }
}

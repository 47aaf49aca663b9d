/**
 * The SCRAM keys of the virtual-user database, for the host that runs the exchange
 * (popup, serve --inline): the same lookup checkpassword makes (cdb or text file).
 * A locked account (hash `!...`) has no usable keys.
 */
import { isLockedHash } from "../auth/account.ts";
import { lookupVirtualUser } from "../auth/userdb.ts";
import type { ScramHash } from "./scram.ts";
import type { ScramKeys } from "./scram_keys.ts";

export function userdbScramKeys(path: string): (user: string, hash: ScramHash) => ScramKeys | undefined {
  return (user, hash) => {
    const found = lookupVirtualUser(path, new Uint8Array(Buffer.from(user, "utf8")));
    if (found === undefined || isLockedHash(found.hash)) return undefined;
    return found.scram?.[hash];
  };
}

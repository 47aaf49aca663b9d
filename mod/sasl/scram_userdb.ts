/**
 * The SCRAM keys of the virtual-user database, for the host that runs the exchange
 * (popup, serve --inline): the same lookup checkpassword makes (cdb or text file).
 * A locked account (hash `!...`) has no usable keys. A user without keys gets decoy keys
 * made with the work a found entry costs (its line parsed), so the time of the answer
 * does not tell the two apart (bench/sasl.bench.ts measures the ratio).
 */
import { isLockedHash } from "../auth/account.ts";
import { lookupVirtualUser } from "../auth/userdb.ts";
import { formatUserValue, parseUserValue } from "../auth/userdb_text.ts";
import type { ScramHash } from "./scram.ts";
import { decoyKeys, type ScramKeys } from "./scram_keys.ts";

let template: string | undefined;

/** A database line like a real user's, parsed like one: the cost of a found entry. */
function parsedLikeAnEntry(user: string, hash: ScramHash): ScramKeys {
  const decoy = decoyKeys(hash, user);
  template ??= formatUserValue({
    login: "decoy", hash: "$y$j9T$6lnp8T4TDrHjzhRX2tAgy0$wVFvNUZGL9ZgxDhg4UrK9yjm9jTQHm4izbCpBdXyYt5", uid: 65534, gid: 65534, home: "/nonexistent",
    apopSecret: undefined, scram: { sha1: decoyKeys("sha1", "decoy"), sha256: decoyKeys("sha256", "decoy") },
  });
  parseUserValue(user, template);
  return decoy;
}

export function userdbScramKeys(path: string): (user: string, hash: ScramHash) => ScramKeys {
  return (user, hash) => {
    const found = lookupVirtualUser(path, new Uint8Array(Buffer.from(user, "utf8")));
    const keys = found === undefined || isLockedHash(found.hash) ? undefined : found.scram?.[hash];
    return keys ?? parsedLikeAnEntry(user, hash);
  };
}

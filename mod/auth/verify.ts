/**
 * Password checks that cost the same whether or not the account exists: exactly one
 * crypt call per attempt. An unknown user, or a locked hash, is checked against a
 * dummy hash of the same kind, so timing does not tell which logins exist.
 */
import { timingSafeEqual } from "../sys/constant_time.ts";
import { cryptHash } from "../sys/crypt.ts";
import { isLockedHash } from "./account.ts";

/** crypt_r as the check uses it (injected so tests can count calls). */
export type CryptFunction = (password: Uint8Array, setting: string) => string | undefined;

export const systemCrypt: CryptFunction = cryptHash;

/**
 * Yescrypt with Debian's default cost (j9T), hash of a random password nobody knows:
 * checked for unknown users and locked accounts whose hash gives no usable setting.
 */
export const DUMMY_HASH = "$y$j9T$6lnp8T4TDrHjzhRX2tAgy0$wVFvNUZGL9ZgxDhg4UrK9yjm9jTQHm4izbCpBdXyYt5";

/** The setting to burn time on when `hash` cannot match: the hash behind a lock marker, or the dummy. */
function decoySetting(hash: string | undefined): string {
  const unlocked = hash?.replace(/^[!*]+/, "");
  return unlocked && unlocked.startsWith("$") ? unlocked : DUMMY_HASH;
}

/** Whether `password` matches `hash`; always runs crypt once, even for undefined or locked hashes. */
export function checkHash(password: Uint8Array, hash: string | undefined, crypt: CryptFunction = systemCrypt): boolean {
  if (isLockedHash(hash)) {
    crypt(password, decoySetting(hash));
    return false;
  }
  const computed = crypt(password, hash!);
  if (computed === undefined) return false;
  const a = Buffer.from(computed, "latin1");
  const b = Buffer.from(hash!, "latin1");
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Password checks whose cost tells nothing: not whether the account exists, nor which kind
 * of hash it has. Every refused attempt runs crypt once for each kind and cost in
 * DECOY_SETTINGS (the kinds poppin writes and Debian systems hold, at their default costs):
 * the account's own hash takes the place of the decoy of its kind, and an unknown user, a
 * locked account or a refused login runs every decoy. So a wrong password for a sha512
 * account, one for a yescrypt account and an unknown user all cost the same work. A right
 * password skips the decoys (its +OK already tells the client what the timing could), unless
 * the login is refused after all (a policy after the password): then the caller runs the
 * rest with completeDecoys, so that refusal costs what a wrong password costs. A hash of a
 * kind or cost outside the list costs its own check on top (see docs/security.md).
 */
import { timingSafeEqual } from "../sys/constant_time.ts";
import { cryptHash } from "../sys/crypt.ts";
import { isLockedHash } from "./account.ts";

/** crypt_r as the check uses it (injected so tests can count calls). */
export type CryptFunction = (password: Uint8Array, setting: string) => string | undefined;

export const systemCrypt: CryptFunction = cryptHash;

/**
 * Yescrypt with Debian's default cost (j9T), hash of a random password nobody knows:
 * the decoy of poppin's and Debian's default kind.
 */
export const DUMMY_HASH = "$y$j9T$6lnp8T4TDrHjzhRX2tAgy0$wVFvNUZGL9ZgxDhg4UrK9yjm9jTQHm4izbCpBdXyYt5";

/**
 * One hash per kind at its default cost, each of a random password nobody knows: yescrypt
 * (Debian since bullseye, `users add`), sha512-crypt (`users add --sha512`, older systems),
 * sha256-crypt and md5-crypt (older systems still).
 */
export const DECOY_SETTINGS: readonly string[] = [
  DUMMY_HASH,
  "$6$Kq3vT8wZpL2mN9xR$dKKOS01Zn028xMT1/YIs3QJzCm0S.NLxirs3.bNt0qpX42fHs6ermz3dnClW5u4ljYe93nlcKUACrcs8kXV7G/",
  "$5$Hy7cB1nQ4sE6uW0a$Ys6tqCKkNHaKD571wyXkvciBtNDJEoB0Z1ynf2losC8",
  "$1$Zt5pR2vM$.gw1BH.0vFIVF3EWkIveo/",
];

/** sha-crypt's rounds when the setting names none (crypt(5)). */
const SHA_CRYPT_DEFAULT_ROUNDS = 5000;

/**
 * What decides a hash's cost: its kind and cost parameter ("$y$j9T", "$6$rounds=5000",
 * "$2b$10", "$1$"). Two hashes of one class cost the same crypt time.
 */
export function costClass(hash: string): string {
  const fields = hash.split("$");
  const kind = fields[1];
  if (hash[0] !== "$" || kind === undefined) return hash;
  if (kind === "6" || kind === "5") {
    const rounds = /^rounds=([0-9]+)$/.exec(fields[2] ?? "");
    return `$${kind}$rounds=${rounds ? Number(rounds[1]) : SHA_CRYPT_DEFAULT_ROUNDS}`;
  }
  if (kind === "1") return "$1$";
  return `$${kind}$${fields[2] ?? ""}`;
}

const DECOY_CLASSES = DECOY_SETTINGS.map(costClass);

/** Runs every decoy except the one of `skipClass`. */
function runDecoys(password: Uint8Array, crypt: CryptFunction, skipClass?: string): void {
  DECOY_SETTINGS.forEach((setting, i) => {
    if (DECOY_CLASSES[i] !== skipClass) crypt(password, setting);
  });
}

/** The work of a check that cannot succeed (a login refused before its password was looked at). */
export function decoyCheck(password: Uint8Array, crypt: CryptFunction = systemCrypt): void {
  runDecoys(password, crypt);
}

/** Whether `password` matches `hash`; the same crypt work whatever `hash` is (undefined, locked, of any listed kind). */
export function checkHash(password: Uint8Array, hash: string | undefined, crypt: CryptFunction = systemCrypt): boolean {
  if (isLockedHash(hash)) {
    // The hash behind a lock marker ("!$6$...") costs what the account's check would; its answer is ignored.
    const behind = hash?.replace(/^[!*]+/, "");
    if (behind && behind.startsWith("$")) {
      crypt(password, behind);
      runDecoys(password, crypt, costClass(behind));
    } else runDecoys(password, crypt);
    return false;
  }
  const computed = crypt(password, hash!);
  const a = Buffer.from(computed ?? "", "latin1");
  const b = Buffer.from(hash!, "latin1");
  const right = computed !== undefined && a.length === b.length && timingSafeEqual(a, b);
  if (!right) runDecoys(password, crypt, costClass(hash!));
  return right;
}

/**
 * The decoys a right password skipped (checkHash), for a login refused after its password
 * matched: that refusal then costs what a wrong password costs. `hash` undefined (a proof
 * that ran no crypt, such as APOP): every decoy.
 */
export function completeDecoys(password: Uint8Array, hash: string | undefined, crypt: CryptFunction = systemCrypt): void {
  runDecoys(password, crypt, hash === undefined ? undefined : costClass(hash));
}

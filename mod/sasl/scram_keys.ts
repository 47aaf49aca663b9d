/**
 * SCRAM keys as the user database stores them, in Dovecot's notation:
 *   {SCRAM-SHA-256}ITERATIONS,SALT,STOREDKEY,SERVERKEY      (base64 fields)
 * They stand after the crypt hash in the hash field, separated by spaces, so that
 * `login:hash:uid:gid:home[:apop]` keeps its five colons:
 *   $y$j9T$...  {SCRAM-SHA-1}4096,...  {SCRAM-SHA-256}4096,...
 * StoredKey and ServerKey let the server check a login but are not the password; a
 * stolen pair still lets its holder pose as the server, so the file stays mode 0600.
 */
import { readFileSync } from "node:fs";
import { nodeOs } from "../sys/builtins.ts";
import { decodeBase64, deriveKeys, hashLength, hmac, type ScramHash } from "./scram.ts";
import { randomBytes } from "../sys/random.ts";

/** RFC 7677 section 4: at least 4096 iterations; Dovecot's default too. */
export const DEFAULT_ITERATIONS = 4096;
/** Bound on what a stored entry may ask the server to announce (a client pays it, not us). */
const MAX_ITERATIONS = 10_000_000;
const SALT_OCTETS = 16;

export interface ScramKeys {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** The keys a user has, per hash. */
export type ScramKeySet = Partial<Record<ScramHash, ScramKeys>>;

const PREFIX: Record<ScramHash, string> = { sha1: "{SCRAM-SHA-1}", sha256: "{SCRAM-SHA-256}" };

export function formatScramKeys(hash: ScramHash, keys: ScramKeys): string {
  return `${PREFIX[hash]}${keys.iterations},${keys.salt.toString("base64")},${keys.storedKey.toString("base64")},${keys.serverKey.toString("base64")}`;
}

/** Parses one `{SCRAM-SHA-...}` entry; undefined when it is not one or is malformed. */
export function parseScramKeys(text: string): { hash: ScramHash; keys: ScramKeys } | undefined {
  for (const hash of ["sha1", "sha256"] as const) {
    if (!text.startsWith(PREFIX[hash])) continue;
    const fields = text.slice(PREFIX[hash].length).split(",");
    if (fields.length !== 4 || !/^[1-9][0-9]{0,7}$/.test(fields[0])) return undefined;
    const iterations = Number(fields[0]);
    const [salt, storedKey, serverKey] = fields.slice(1).map(decodeBase64);
    if (iterations > MAX_ITERATIONS || !salt || salt.length === 0 || !storedKey || !serverKey) return undefined;
    if (storedKey.length !== hashLength(hash) || serverKey.length !== hashLength(hash)) return undefined;
    return { hash, keys: { iterations, salt, storedKey, serverKey } };
  }
  return undefined;
}

/** Splits a stored hash field into the crypt hash and the SCRAM keys after it. */
export function splitHashField(field: string): { hash: string; scram: ScramKeySet; extra: string[] } {
  const words = field.split(" ").filter((w) => w !== "");
  const scram: ScramKeySet = {};
  const extra: string[] = [];
  for (const word of words.slice(1)) {
    const parsed = parseScramKeys(word);
    if (parsed) scram[parsed.hash] = parsed.keys;
    else extra.push(word);
  }
  return { hash: words[0] ?? "", scram, extra };
}

export function joinHashField(hash: string, scram: ScramKeySet | undefined): string {
  const parts = [hash];
  if (scram?.sha1) parts.push(formatScramKeys("sha1", scram.sha1));
  if (scram?.sha256) parts.push(formatScramKeys("sha256", scram.sha256));
  return parts.join(" ");
}

/** Keys for both hashes from a new password, each with its own random salt. */
export function makeScramKeys(password: Uint8Array, iterations = DEFAULT_ITERATIONS): ScramKeySet {
  const make = (hash: ScramHash): ScramKeys => {
    const salt = randomBytes(SALT_OCTETS);
    return { iterations, salt, ...deriveKeys(hash, password, salt, iterations) };
  };
  return { sha1: make("sha1"), sha256: make("sha256") };
}

let decoySecret: Buffer | undefined;

/** A secret of this host that a remote client cannot know: /etc/machine-id (or the host name). */
function hostSecret(): Buffer {
  if (decoySecret === undefined) {
    let seed: string;
    try {
      seed = readFileSync("/etc/machine-id", "utf8").trim();
    } catch {
      seed = nodeOs().hostname();
    }
    decoySecret = hmac("sha256", Buffer.from("poppin scram decoy"), seed);
  }
  return decoySecret;
}

/**
 * Keys for a user who has none (unknown, a system account, no keys yet): the same salt
 * every time for the same name, so asking twice does not tell a real user from a made-up
 * one, and keys nobody can match. The exchange runs through to the proof check as for
 * any user and fails there, like a wrong password.
 */
export function decoyKeys(hash: ScramHash, user: string): ScramKeys {
  const mac = hmac("sha256", hostSecret(), `${hash}\0${user}`);
  const len = hashLength(hash);
  return {
    iterations: DEFAULT_ITERATIONS,
    salt: mac.subarray(0, SALT_OCTETS),
    storedKey: randomBytes(len),
    serverKey: randomBytes(len),
  };
}

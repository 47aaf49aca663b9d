/**
 * The checkpassword form of a SCRAM login. After popup has run the exchange, the
 * password field on fd 3 carries the whole exchange:
 *   {SCRAM-SHA-256}client-first-bare LF server-first LF client-final
 * (user\0THAT\0timestamp\0, at most 512 octets as every fd-3 request). poppin's
 * checkpassword checks the proof against the StoredKey of the login again, so the
 * verdict is checkpassword's, as for every login. A foreign checkpassword sees a
 * password that matches nothing and refuses it; USER/PASS logins are unchanged.
 *
 * A recorded exchange cannot be replayed: the server nonce ends with a tag of the
 * timestamp popup put on fd 3 (`<pid.time@host>`, new for every connection) and the
 * check needs the two to agree. A form with no timestamp is refused.
 */
import { authMessage, parseClientFinal, parseClientFirst, parseServerFirst, proofMatches, type ScramHash } from "./scram.ts";
import type { ScramKeys } from "./scram_keys.ts";

const FORM_PREFIX: Record<ScramHash, string> = { sha1: "{SCRAM-SHA-1}", sha256: "{SCRAM-SHA-256}" };
const LF = "\n";
const TAG_CHARS = 16;

/** The tag every server nonce ends with: base64url of SHA-256 of the fd-3 timestamp, 16 characters. */
export function nonceTag(timestamp: string): string {
  return new Bun.CryptoHasher("sha256").update(`poppin scram nonce\0${timestamp}`).digest().toString("base64url").slice(0, TAG_CHARS);
}

export function formatScramForm(hash: ScramHash, clientFirstBare: string, serverFirst: string, clientFinal: string): Uint8Array {
  return new Uint8Array(Buffer.from(`${FORM_PREFIX[hash]}${clientFirstBare}${LF}${serverFirst}${LF}${clientFinal}`, "utf8"));
}

export interface ScramForm {
  hash: ScramHash;
  clientFirstBare: string;
  serverFirst: string;
  clientFinal: string;
}

/** The SCRAM form in a password field, or undefined when the field is an ordinary password. */
export function parseScramForm(password: Uint8Array): ScramForm | undefined {
  if (password.length === 0 || password[0] !== 0x7b) return undefined; // "{"
  const text = Buffer.from(password).toString("utf8");
  for (const hash of ["sha1", "sha256"] as const) {
    if (!text.startsWith(FORM_PREFIX[hash])) continue;
    const parts = text.slice(FORM_PREFIX[hash].length).split(LF);
    if (parts.length !== 3) return undefined;
    return { hash, clientFirstBare: parts[0], serverFirst: parts[1], clientFinal: parts[2] };
  }
  return undefined;
}

/**
 * Whether the exchange in `form` proves the password behind `keys`, within the
 * connection that `timestamp` names. Costs the same (one HMAC, one hash) whatever fails.
 */
export function verifyScramForm(form: ScramForm, keys: ScramKeys, timestamp: Uint8Array): boolean {
  const hash = form.hash;
  const first = parseClientFirst(`n,,${form.clientFirstBare}`);
  const server = parseServerFirst(form.serverFirst);
  const final = parseClientFinal(form.clientFinal, hash);
  if (!final.ok) return false;
  const ts = Buffer.from(timestamp).toString("latin1");
  const proven = proofMatches(hash, keys.storedKey, authMessage(form.clientFirstBare, form.serverFirst, final.value.withoutProof), final.value.proof);
  if (!first.ok || !server.ok || ts.length === 0) return false;
  const nonce = server.value.nonce;
  return proven
    && nonce.startsWith(first.value.clientNonce)
    && nonce.length > first.value.clientNonce.length + TAG_CHARS
    && nonce.endsWith(nonceTag(ts))
    && final.value.nonce === nonce
    && server.value.iterations === keys.iterations
    && Buffer.compare(server.value.salt, keys.salt) === 0;
}

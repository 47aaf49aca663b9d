/**
 * SCRAM (RFC 5802, RFC 7677): the key schedule and the message grammar, with no I/O.
 * The server side of an exchange is scram_server.ts; the keys a user database stores
 * are scram_keys.ts. Every parser is strict: a message that does not follow the ABNF is
 * refused, never guessed at.
 */
// H() and HMAC() run at every SCRAM login, in popup too: Bun.CryptoHasher (BoringSSL, like
// node:crypto) needs no node:crypto load at start (mod/sys/builtins.ts); Hi() runs only when
// keys are made (`poppin users`), through node:crypto loaded then.
import { nodeCrypto } from "../sys/builtins.ts";
import { sameUserName } from "../auth/username.ts";

export type ScramHash = "sha1" | "sha256";

/** The SASL names poppin serves, and their hash. */
export const SCRAM_MECHANISMS: ReadonlyMap<string, ScramHash> = new Map([
  ["SCRAM-SHA-256", "sha256"],
  ["SCRAM-SHA-1", "sha1"],
]);

export function hashLength(hash: ScramHash): number {
  return hash === "sha1" ? 20 : 32;
}

/** RFC 5802 section 2.2: H(), HMAC(), Hi() (Hi is PBKDF2 with HMAC-H and dkLen = the hash length). */
export function h(hash: ScramHash, data: Uint8Array): Buffer {
  return new Bun.CryptoHasher(hash).update(data).digest();
}

export function hmac(hash: ScramHash, key: Uint8Array, data: Uint8Array | string): Buffer {
  return new Bun.CryptoHasher(hash, key).update(data).digest();
}

export function hi(hash: ScramHash, password: Uint8Array, salt: Uint8Array, iterations: number): Buffer {
  return nodeCrypto().pbkdf2Sync(password, salt, iterations, hashLength(hash), hash);
}

/**
 * The password as SCRAM hashes it. RFC 5802 asks for SASLprep (RFC 4013); NFKC is its
 * core mapping and leaves ASCII (and any password already in NFKC) unchanged.
 */
export function normalizePassword(password: Uint8Array): Uint8Array {
  const text = Buffer.from(password).toString("utf8");
  if (Buffer.compare(Buffer.from(text, "utf8"), password) !== 0) return password; // not UTF-8: as it is
  const normalized = text.normalize("NFKC");
  return normalized === text ? password : new Uint8Array(Buffer.from(normalized, "utf8"));
}

/** StoredKey and ServerKey from a password (what `users passwd` keeps). */
export function deriveKeys(hash: ScramHash, password: Uint8Array, salt: Uint8Array, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  const salted = hi(hash, normalizePassword(password), salt, iterations);
  const clientKey = hmac(hash, salted, "Client Key");
  const storedKey = h(hash, clientKey);
  const serverKey = hmac(hash, salted, "Server Key");
  salted.fill(0);
  clientKey.fill(0);
  return { storedKey, serverKey };
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (RFC 4648 alphabet and padding); undefined when malformed. */
export function decodeBase64(text: string): Buffer | undefined {
  return B64.test(text) ? Buffer.from(text, "base64") : undefined;
}

/** RFC 5802 `printable` without ',' (the nonce alphabet). */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
/** Bound on a client nonce: keeps the exchange (and the fd-3 data) small. */
export const MAX_CLIENT_NONCE = 128;

/** `saslname`: UTF-8 without ',' and '=' except in the escapes =2C and =3D. */
export function decodeSaslName(text: string): string | undefined {
  if (text.length === 0 || /[\0]/.test(text)) return undefined;
  if (/=(?!2C|3D)/.test(text)) return undefined;
  return text.replaceAll("=2C", ",").replaceAll("=3D", "=");
}

export function encodeSaslName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

/** Channel-binding types poppin can provide (RFC 9266, RFC 5929 section 4). */
export type ChannelBindingType = "tls-exporter" | "tls-server-end-point";
export const CHANNEL_BINDING_TYPES: readonly ChannelBindingType[] = ["tls-exporter", "tls-server-end-point"];

export interface ClientFirst {
  /** `n`, `y` or `p=NAME` (gs2-cbind-flag). */
  cbindFlag: "n" | "y" | "p";
  /** The channel-binding type asked for with `p=`. */
  cbName?: string;
  /** The gs2 header as sent ("n,,", "p=tls-exporter,,"): repeated in the client-final's c=. */
  gs2Header: string;
  user: string;
  clientNonce: string;
  /** client-first-message-bare: part of the AuthMessage. */
  bare: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; why: string };

const fail = (why: string): { ok: false; why: string } => ({ ok: false, why });

/** Parses a client-first-message (RFC 5802 section 7). */
export function parseClientFirst(message: string): Parsed<ClientFirst> {
  const m = /^(n|y|p=([A-Za-z0-9.-]+)),(a=[^,]*)?,(.*)$/s.exec(message);
  if (!m) return fail("bad gs2 header");
  const gs2Header = message.slice(0, message.length - m[4].length);
  const bare = m[4];
  const fields = bare.split(",");
  if (fields[0].startsWith("m=")) return fail("mandatory extension not supported");
  if (fields.length < 2 || !fields[0].startsWith("n=") || !fields[1].startsWith("r=")) return fail("expected n=user,r=nonce");
  const user = decodeSaslName(fields[0].slice(2));
  if (user === undefined) return fail("bad user name");
  // An authzid that names the user itself (as PLAIN's) is the user's own login; any other is refused.
  if (m[3] !== undefined) {
    const authzid = decodeSaslName(m[3].slice(2));
    if (authzid === undefined) return fail("bad authorization identity");
    if (!sameUserName(Buffer.from(authzid, "utf8"), Buffer.from(user, "utf8"))) return fail("acting as another user (authzid) is not supported");
  }
  const clientNonce = fields[1].slice(2);
  if (!NONCE.test(clientNonce) || clientNonce.length > MAX_CLIENT_NONCE) return fail("bad nonce");
  for (const ext of fields.slice(2)) if (!/^[A-Za-z]=/.test(ext)) return fail("bad extension");
  const flag = m[1][0] as "n" | "y" | "p";
  return { ok: true, value: { cbindFlag: flag, cbName: flag === "p" ? m[2] : undefined, gs2Header, user, clientNonce, bare } };
}

export interface ClientFinal {
  /** The decoded c= value: gs2 header, then the channel-binding data for p=. */
  channelBinding: Buffer;
  nonce: string;
  proof: Buffer;
  /** client-final-message-without-proof: part of the AuthMessage. */
  withoutProof: string;
}

/** Parses a client-final-message (RFC 5802 section 7). */
export function parseClientFinal(message: string, hash: ScramHash): Parsed<ClientFinal> {
  const at = message.lastIndexOf(",p=");
  if (at < 0) return fail("no proof");
  const withoutProof = message.slice(0, at);
  const fields = withoutProof.split(",");
  if (fields.length < 2 || !fields[0].startsWith("c=") || !fields[1].startsWith("r=")) return fail("expected c=...,r=...,p=...");
  const channelBinding = decodeBase64(fields[0].slice(2));
  if (channelBinding === undefined) return fail("bad channel binding base64");
  const nonce = fields[1].slice(2);
  if (!NONCE.test(nonce)) return fail("bad nonce");
  for (const ext of fields.slice(2)) if (!/^[A-Za-z]=/.test(ext) || ext.startsWith("p=")) return fail("bad extension");
  const proof = decodeBase64(message.slice(at + 3));
  if (proof === undefined || proof.length !== hashLength(hash)) return fail("bad proof");
  return { ok: true, value: { channelBinding, nonce, proof, withoutProof } };
}

export interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

export function formatServerFirst(first: ServerFirst): string {
  return `r=${first.nonce},s=${first.salt.toString("base64")},i=${first.iterations}`;
}

/** Parses a server-first-message (the checkpassword form carries it). */
export function parseServerFirst(message: string): Parsed<ServerFirst> {
  const m = /^r=([\x21-\x2b\x2d-\x7e]+),s=([A-Za-z0-9+/=]+),i=([1-9][0-9]{0,8})$/.exec(message);
  if (!m) return fail("bad server-first message");
  const salt = decodeBase64(m[2]);
  if (salt === undefined || salt.length === 0) return fail("bad salt");
  return { ok: true, value: { nonce: m[1], salt, iterations: Number(m[3]) } };
}

/** AuthMessage (RFC 5802 section 3). */
export function authMessage(clientFirstBare: string, serverFirst: string, clientFinalWithoutProof: string): string {
  return `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
}

/**
 * Checks ClientProof against StoredKey: ClientKey = proof XOR HMAC(StoredKey, AuthMessage),
 * then H(ClientKey) must equal StoredKey. Constant time in the keys.
 */
export function proofMatches(hash: ScramHash, storedKey: Uint8Array, auth: string, proof: Uint8Array): boolean {
  const signature = hmac(hash, storedKey, auth);
  if (proof.length !== signature.length) return false;
  const clientKey = Buffer.alloc(signature.length);
  for (let i = 0; i < signature.length; i++) clientKey[i] = proof[i] ^ signature[i];
  const computed = h(hash, clientKey);
  clientKey.fill(0);
  let diff = computed.length ^ storedKey.length;
  for (let i = 0; i < Math.min(computed.length, storedKey.length); i++) diff |= computed[i] ^ storedKey[i];
  return diff === 0;
}

/** ServerSignature = HMAC(ServerKey, AuthMessage): the server-final `v=`. */
export function serverSignature(hash: ScramHash, serverKey: Uint8Array, auth: string): Buffer {
  return hmac(hash, serverKey, auth);
}

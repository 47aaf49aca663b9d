/**
 * APOP (RFC 1939 section 7): the client sends MD5(timestamp + secret) in hex.
 * qmail-popup hands the digest to checkpassword as the password, with its greeting
 * timestamp; it passes the same timestamp after USER/PASS too, so a digest is told
 * from a password by its shape: exactly 32 lowercase hex digits (RFC 1939's form).
 */
import { openSync, fstatSync, readFileSync, closeSync } from "node:fs";
import { TempError, describeSysError } from "../base/errors.ts";
import { timingSafeEqual } from "../sys/constant_time.ts";

/** Whether this password field can be an APOP digest (checked on the bytes: no copy of a password is made). */
export function looksLikeApopDigest(password: Uint8Array): boolean {
  if (password.length !== 32) return false;
  for (const c of password) {
    const digit = c >= 0x30 && c <= 0x39;
    const lowerHex = c >= 0x61 && c <= 0x66;
    if (!digit && !lowerHex) return false;
  }
  return true;
}

/** Compares MD5(timestamp + secret) with the client's digest in constant time. */
export function verifyApop(timestamp: Uint8Array, secret: Uint8Array, digestHex: Uint8Array): boolean {
  const expected = Buffer.from(new Bun.CryptoHasher("md5").update(timestamp).update(secret).digest("hex"), "latin1");
  if (digestHex.length !== expected.length) return false;
  return timingSafeEqual(expected, digestHex);
}

/** Bound on the secrets file (a line per user). */
const MAX_SECRETS_FILE = 16 << 20;

/**
 * The APOP secret of a system account from POPPIN_APOP_SECRETS (`user:secret` lines).
 * The file must be a regular file with no group or other permission bits (0600 or
 * stricter) owned by us or root; otherwise TempError, so a leaked file is noticed.
 */
export function lookupApopSecretFile(path: string, login: Uint8Array, euid: number): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new TempError(`unable to open APOP secrets ${path}: ${describeSysError(err)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TempError(`refusing APOP secrets ${path}: not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new TempError(`refusing APOP secrets ${path}: mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}, must be 0600 or stricter`);
    }
    if (st.uid !== euid && st.uid !== 0) throw new TempError(`refusing APOP secrets ${path}: owned by uid ${st.uid}`);
    if (st.size > MAX_SECRETS_FILE) throw new TempError(`refusing APOP secrets ${path}: larger than ${MAX_SECRETS_FILE} bytes`);
    const text = readFileSync(fd);
    try {
      return findSecret(text, login);
    } finally {
      text.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** Finds `login:` at the start of a line; returns a copy of the rest of that line. */
export function findSecret(text: Uint8Array, login: Uint8Array): Uint8Array | undefined {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    let lineEnd = end;
    if (lineEnd > start && text[lineEnd - 1] === 0x0d) lineEnd--;
    const colon = start + login.length;
    if (colon < lineEnd && text[colon] === 0x3a && Buffer.compare(text.subarray(start, colon), login) === 0) {
      const secret = Uint8Array.from(text.subarray(colon + 1, lineEnd)); // a copy: the caller wipes `text`
      return secret.length > 0 ? secret : undefined;
    }
    start = end + 1;
  }
  return undefined;
}

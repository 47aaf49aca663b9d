/**
 * libcrypt (libxcrypt's libcrypt.so.1) through bun:ffi, opened on first use:
 * crypt_r checks every hash the system knows ($y$ yescrypt, $6$/$5$ sha-crypt,
 * $1$ md5-crypt, $2b$ bcrypt); crypt_gensalt_rn makes settings for new hashes.
 * libcrypt.so (no version) needs the -dev package, so we name libcrypt.so.1.
 */
import { dlopen, CString } from "bun:ffi";
import { cBytes } from "./libc.ts";
import { openUnderLimits } from "./memory_limit.ts";

function openLibcrypt() {
  return openUnderLimits(() => dlopen("libcrypt.so.1", {
    crypt_r: { args: ["ptr", "ptr", "ptr"], returns: "ptr" },
    crypt_gensalt_rn: { args: ["ptr", "u64", "ptr", "i32", "ptr", "i32"], returns: "ptr" },
  }));
}

let handle: ReturnType<typeof openLibcrypt> | undefined;

function libcrypt(): ReturnType<typeof openLibcrypt>["symbols"] {
  handle ??= openLibcrypt();
  return handle.symbols;
}

/** sizeof(struct crypt_data) in libxcrypt (32768); glibc's old libcrypt needed less. */
const CRYPT_DATA_SIZE = 32768;
/** CRYPT_GENSALT_OUTPUT_SIZE in libxcrypt. */
const GENSALT_OUTPUT_SIZE = 192;

/**
 * crypt_r(password, setting): the hash, or undefined when libcrypt refuses the
 * setting (NULL, or libxcrypt's failure tokens "*0"/"*1" that start with "*").
 * The password bytes go in as they are; the scratch area is wiped afterwards.
 */
export function cryptHash(password: Uint8Array, setting: string): string | undefined {
  const data = new Uint8Array(CRYPT_DATA_SIZE);
  const pw = cBytes(password);
  try {
    const result = libcrypt().crypt_r(pw, cBytes(setting), data);
    if (result === null) return undefined;
    const hash = new CString(result).toString();
    if (hash.length === 0 || hash.startsWith("*")) return undefined;
    return hash;
  } finally {
    pw.fill(0);
    data.fill(0);
  }
}

/** Hash families poppin writes; both are Debian's (yescrypt is the default since bullseye). */
export type NewHashKind = "yescrypt" | "sha512";

const PREFIX: Record<NewHashKind, string> = { yescrypt: "$y$", sha512: "$6$" };

/** A fresh setting (prefix, cost and random salt) from crypt_gensalt_rn with our own random bytes. */
export function makeSetting(kind: NewHashKind): string {
  const out = new Uint8Array(GENSALT_OUTPUT_SIZE);
  const random = crypto.getRandomValues(new Uint8Array(32));
  const result = libcrypt().crypt_gensalt_rn(cBytes(PREFIX[kind]), 0n, random, random.length, out, out.length);
  random.fill(0);
  if (result === null) throw new Error(`crypt_gensalt_rn refused ${PREFIX[kind]}`);
  return new CString(result).toString();
}

/** Hashes a new password with a fresh salt. */
export function hashPassword(password: Uint8Array, kind: NewHashKind = "yescrypt"): string {
  const hash = cryptHash(password, makeSetting(kind));
  if (hash === undefined) throw new Error(`libcrypt refused to hash with ${PREFIX[kind]}`);
  return hash;
}

/**
 * The verified-credential cache (off by default), like Dovecot's auth_cache: after a
 * successful password check, remember (login, HMAC of the password under a key that
 * lives only in this process's memory) -> the stored hash it matched, for `ttlMs`.
 * A polling client's next login then costs an HMAC instead of a yescrypt run. A changed
 * hash in the user database no longer matches the entry, so a password change (or a
 * lock) takes effect at once; SIGHUP empties the cache. The password itself is never kept.
 */
import { ENV, envValue } from "../base/env.ts";
import { nodeCrypto } from "../sys/builtins.ts";

/** Bound on entries: the oldest goes first (a Map keeps insertion order). */
export const CREDENTIAL_CACHE_MAX_ENTRIES = 100_000;

interface Entry {
  hash: string;
  expires: number;
}

export class CredentialCache {
  readonly #key = crypto.getRandomValues(new Uint8Array(32));
  readonly #entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(readonly ttlMs: number, private readonly now: () => number = Date.now, private readonly maxEntries = CREDENTIAL_CACHE_MAX_ENTRIES) {}

  /** The cache key for this login and password (the password enters only the HMAC). */
  keyOf(login: Uint8Array, password: Uint8Array): string {
    const mac = nodeCrypto().createHmac("sha256", this.#key).update(password).digest("base64");
    return `${Buffer.from(login).toString("latin1")}\0${mac}`;
  }

  /** Whether `key` was verified against exactly `hash` within the TTL. */
  verified(key: string, hash: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.hash !== hash || entry.expires <= this.now()) {
      if (entry !== undefined && entry.expires <= this.now()) this.#entries.delete(key);
      this.misses++;
      return false;
    }
    this.hits++;
    return true;
  }

  remember(key: string, hash: string): void {
    this.#entries.delete(key);
    this.#entries.set(key, { hash, expires: this.now() + this.ttlMs });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** POPPIN_AUTH_CACHE_TTL: seconds a verified password is remembered; unset, empty or 0: no cache. */
export function credentialCacheTtlMs(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const seconds = envValue(env, ENV.authCacheTtl);
  return seconds === 0 ? undefined : seconds * 1000;
}

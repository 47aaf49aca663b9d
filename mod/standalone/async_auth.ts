/**
 * checkpassword's decision (mod/auth/authenticate.ts, unchanged) with the crypt call
 * moved to the worker pool. authenticate() calls crypt once per setting (the account's
 * hash and a decoy of every other kind), so it runs again after each: a run stops at the
 * first setting not computed yet and names it; the pool computes it; the last run has
 * every answer and decides. The lookups
 * it repeats are cheap (a cdb or NSS lookup), and every rule of the original (decoys for
 * unknown users, APOP, shadow and uid policies) applies unchanged.
 */
import { authenticate, type AuthEnvironment, type AuthResult } from "../auth/authenticate.ts";
import type { AuthConfig } from "../auth/config.ts";
import { AuthRefused, type CheckpasswordRequest } from "../auth/request.ts";
import type { CredentialCache } from "./credential_cache.ts";
import type { CryptPool } from "./crypt_pool.ts";
import { DECOY_SETTINGS } from "../auth/verify.ts";

class CryptNeeded extends Error {
  constructor(readonly password: Uint8Array, readonly setting: string) {
    super("crypt needed");
  }
}

/** More crypt settings than one attempt can use (its own hash and one decoy per kind): a bug, not a login. */
const MAX_CRYPT_SETTINGS = DECOY_SETTINGS.length + 2;

export interface AsyncAuthTools {
  pool: CryptPool;
  cache?: CredentialCache;
}

/** Throws AuthRefused (wrong password, unknown user, refused account) or TempError, as authenticate(). */
export async function authenticateOffThread(
  request: CheckpasswordRequest,
  config: AuthConfig,
  env: Omit<AuthEnvironment, "crypt">,
  tools: AsyncAuthTools,
): Promise<AuthResult> {
  const cacheKey = tools.cache?.keyOf(request.login, request.password);
  // authenticate() calls crypt once per decoy kind too (mod/auth/verify.ts): each setting is computed on the pool once.
  const answered = new Map<string, string | undefined>();
  let fromCache = false;
  let useCache = cacheKey !== undefined;
  const crypt = (password: Uint8Array, setting: string): string | undefined => {
    if (answered.has(setting)) return answered.get(setting);
    // A cached entry holds the very hash it matched: crypt(password, hash) === hash.
    if (useCache && tools.cache!.verified(cacheKey!, setting)) {
      fromCache = true;
      return setting;
    }
    // A password already proven right needs no decoys: they only hide the cost of a wrong one.
    if (fromCache) return undefined;
    throw new CryptNeeded(password.slice(), setting);
  };
  for (let round = 0; ; round++) {
    try {
      const result = authenticate(request, config, { ...env, crypt });
      if (cacheKey !== undefined && result.method === "password" && !fromCache && result.account.hash !== undefined) {
        tools.cache!.remember(cacheKey, result.account.hash);
      }
      return result;
    } catch (err) {
      if (err instanceof AuthRefused && fromCache) {
        // A cached right password refused after all (a policy changed since it was cached):
        // checked again without the cache, so that refusal costs what a wrong password's does
        // (its own hash and every other decoy), not an HMAC: a quick -ERR would say "right password".
        useCache = false;
        fromCache = false;
        round = -1;
        continue;
      }
      if (!(err instanceof CryptNeeded) || round > MAX_CRYPT_SETTINGS) throw err;
      answered.set(err.setting, await tools.pool.crypt(err.password, err.setting));
      err.password.fill(0);
    }
  }
}

/**
 * checkpassword's decision (mod/auth/authenticate.ts, unchanged) with the crypt call
 * moved to the worker pool. authenticate() calls crypt exactly once per attempt, so it
 * runs twice: the first run stops at the crypt call and names the setting; the pool
 * computes it; the second run gets the answer for that setting and decides. The lookups
 * it repeats are cheap (a cdb or NSS lookup), and every rule of the original (decoys for
 * unknown users, APOP, shadow and uid policies) applies unchanged.
 */
import { authenticate, type AuthEnvironment, type AuthResult } from "../auth/authenticate.ts";
import type { AuthConfig } from "../auth/config.ts";
import type { CheckpasswordRequest } from "../auth/request.ts";
import type { CredentialCache } from "./credential_cache.ts";
import type { CryptPool } from "./crypt_pool.ts";

class CryptNeeded extends Error {
  constructor(readonly password: Uint8Array, readonly setting: string) {
    super("crypt needed");
  }
}

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
  let answered: { setting: string; hash: string | undefined } | undefined;
  let fromCache = false;
  const crypt = (password: Uint8Array, setting: string): string | undefined => {
    if (answered !== undefined && answered.setting === setting) return answered.hash;
    // A cached entry holds the very hash it matched: crypt(password, hash) === hash.
    if (cacheKey !== undefined && tools.cache!.verified(cacheKey, setting)) {
      fromCache = true;
      return setting;
    }
    throw new CryptNeeded(password.slice(), setting);
  };
  for (;;) {
    try {
      const result = authenticate(request, config, { ...env, crypt });
      if (cacheKey !== undefined && result.method === "password" && !fromCache && result.account.hash !== undefined) {
        tools.cache!.remember(cacheKey, result.account.hash);
      }
      return result;
    } catch (err) {
      if (!(err instanceof CryptNeeded) || answered !== undefined) throw err;
      answered = { setting: err.setting, hash: await tools.pool.crypt(err.password, err.setting) };
      err.password.fill(0);
    }
  }
}

/**
 * checkpassword's settings, all from the environment (djb's interface has no options,
 * and popup runs `checkpassword PROG...` with whatever the run script exported).
 */
import { ENV, envStrict, envValue } from "../base/env.ts";
import { UsageError } from "../base/errors.ts";

/** Default floor for system accounts: uid 0 and Debian's system range (below 1000) are refused, like Qpopper's BLOCK_UID. */
export const DEFAULT_MIN_UID: number = ENV.minUid.fallback;
export const DEFAULT_SHADOW_FILE = "/etc/shadow";

export interface AuthConfig {
  /** POPPIN_USERDB: the virtual-user database (a `.cdb` or the text file); unset: system accounts. */
  userdb: string | undefined;
  /** POPPIN_MIN_UID: the lowest uid a system account may have (virtual accounts: only uid 0 is refused, unless this is 0). */
  minUid: number;
  /** POPPIN_APOP_SECRETS: `user:secret` lines for system accounts' APOP. */
  apopSecretsFile: string | undefined;
  shadowFile: string;
  /** POPPIN_HOME_BASE: virtual users' homes must lie inside this directory; unset, not checked. */
  homeBase?: string;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** Reads the settings; a malformed POPPIN_MIN_UID is a usage error rather than a silent default. */
export function authConfigFromEnv(env: NodeJS.ProcessEnv, userdbOption?: string): AuthConfig {
  return {
    userdb: userdbOption ?? envValue(env, ENV.userdb),
    minUid: envStrict(env, ENV.minUid),
    apopSecretsFile: envValue(env, ENV.apopSecrets),
    shadowFile: DEFAULT_SHADOW_FILE,
    homeBase: envValue(env, ENV.homeBase),
  };
}

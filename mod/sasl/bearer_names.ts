/**
 * What every login host needs to know of OAUTHBEARER and XOAUTH2 without their code
 * (oauthbearer.ts, mod/auth/oauth.ts): the mechanism names, whether OAuth is configured,
 * the variable carrying the token to checkpassword and the password-field form that names
 * one. popup loads the rest only where OAuth is configured (tests/cli/start_cost.test.ts).
 */
import { ENV, envValue } from "../base/env.ts";

export type BearerMechanism = "OAUTHBEARER" | "XOAUTH2";
export const BEARER_MECHANISMS: readonly BearerMechanism[] = ["OAUTHBEARER", "XOAUTH2"];

/** The environment variable carrying the token from popup to checkpassword. */
export const BEARER_VARIABLE: string = ENV.saslBearer.name;

/** How the password field names a bearer token: this, then the token's digest (mod/auth/oauth.ts's tokenDigest). */
export const FORM_PREFIX = "{OAUTHBEARER}";

/** Whether OAuth is configured at all (OAUTHBEARER and XOAUTH2 are then offered). */
export function bearerConfigured(env: NodeJS.ProcessEnv): boolean {
  return envValue(env, ENV.oauthJwks) !== undefined || envValue(env, ENV.oauthIntrospectionUrl) !== undefined;
}

/** The token digest in a password field, or undefined for an ordinary password. */
export function parseBearerForm(password: Uint8Array): string | undefined {
  if (password.length !== FORM_PREFIX.length + 43 || password[0] !== 0x7b) return undefined;
  const text = Buffer.from(password).toString("latin1");
  return text.startsWith(FORM_PREFIX) && /^[A-Za-z0-9_-]{43}$/.test(text.slice(FORM_PREFIX.length)) ? text.slice(FORM_PREFIX.length) : undefined;
}

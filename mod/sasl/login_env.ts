/**
 * What popup tells the rest of the chain about a login, in the environment it runs
 * checkpassword with (checkpassword passes the environment on to pop3d, as djb's does):
 *   POPPIN_AUTH_MECH     how the user logged in (USER, APOP, PLAIN, SCRAM-SHA-256, ...): log-login's %4
 *   POPPIN_SASL_BEARER   the bearer token of an OAUTHBEARER/XOAUTH2 login, for checkpassword
 *                        only (it removes it before running pop3d); see oauthbearer.ts
 *   POPPIN_SASL_OFFERED  the SASL mechanisms CAPA announced at the login ("none": no SASL line),
 *                        so pop3d's CAPA announces the same (RFC 2449 section 5)
 * None is taken from popup's own environment: they describe this login only.
 */
import { ENV, envValue } from "../base/env.ts";
import { BEARER_VARIABLE } from "./bearer_names.ts";

export const MECHANISM_VARIABLE: string = ENV.authMechanism.name;
export const OFFERED_VARIABLE: string = ENV.saslOffered.name;

export function loginEnvironment(base: NodeJS.ProcessEnv, login: { mechanism?: string; bearer?: string; offered?: readonly string[] } | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  delete env[BEARER_VARIABLE];
  delete env[MECHANISM_VARIABLE];
  delete env[OFFERED_VARIABLE];
  if (login?.mechanism !== undefined) env[MECHANISM_VARIABLE] = login.mechanism;
  if (login?.bearer !== undefined) env[BEARER_VARIABLE] = login.bearer;
  if (login?.offered !== undefined) env[OFFERED_VARIABLE] = login.offered.length > 0 ? login.offered.join(" ") : "none";
  return env;
}

/** What POPPIN_SASL_OFFERED says (undefined: not told, e.g. behind another popup). */
export function offeredFromEnvironment(env: Readonly<Record<string, string | undefined>>): string[] | undefined {
  const value = envValue(env, ENV.saslOffered);
  if (value === undefined) return undefined;
  return value === "none" ? [] : value.split(" ").filter((m) => /^[A-Z0-9_-]{1,20}$/.test(m));
}

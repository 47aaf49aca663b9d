/**
 * What popup tells the rest of the chain about a login, in the environment it runs
 * checkpassword with (checkpassword passes the environment on to pop3d, as djb's does):
 *   POPPIN_AUTH_MECH     how the user logged in (USER, APOP, PLAIN, SCRAM-SHA-256, ...): log-login's %4
 *   POPPIN_SASL_BEARER   the bearer token of an OAUTHBEARER/XOAUTH2 login, for checkpassword
 *                        only (it removes it before running pop3d); see oauthbearer.ts
 * Neither is taken from popup's own environment: they describe this login only.
 */
import { ENV } from "../base/env.ts";
import { BEARER_VARIABLE } from "./bearer_names.ts";

export const MECHANISM_VARIABLE: string = ENV.authMechanism.name;

export function loginEnvironment(base: NodeJS.ProcessEnv, login: { mechanism?: string; bearer?: string } | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  delete env[BEARER_VARIABLE];
  delete env[MECHANISM_VARIABLE];
  if (login?.mechanism !== undefined) env[MECHANISM_VARIABLE] = login.mechanism;
  if (login?.bearer !== undefined) env[BEARER_VARIABLE] = login.bearer;
  return env;
}

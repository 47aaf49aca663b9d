/**
 * checkpassword's decision when the password field names a bearer token
 * (`{OAUTHBEARER}DIGEST`, mod/sasl/oauthbearer.ts): the token popup passed beside fd 3
 * must have that digest, be valid (mod/auth/oauth.ts) and speak for the login; then the
 * account is found and checked as after a password. Any other password field goes to
 * `otherwise` (the password/APOP/SCRAM check) unchanged.
 */
import { authenticateProven, type AuthEnvironment, type AuthResult } from "./authenticate.ts";
import type { AuthConfig } from "./config.ts";
import { bearerTokenUser, oauthConfigFromEnv, tokenDigest } from "./oauth.ts";
import { AuthRefused, type CheckpasswordRequest } from "./request.ts";
import { parseBearerForm } from "../sasl/oauthbearer.ts";

export async function authenticateWithBearer(
  request: CheckpasswordRequest,
  config: AuthConfig,
  env: AuthEnvironment,
  vars: NodeJS.ProcessEnv,
  token: string | undefined,
  otherwise: () => AuthResult | Promise<AuthResult>,
): Promise<AuthResult> {
  const digest = parseBearerForm(request.password);
  if (digest === undefined) return otherwise();
  const oauth = oauthConfigFromEnv(vars);
  if (oauth === undefined || token === undefined || tokenDigest(token) !== digest) throw new AuthRefused("no bearer token matches");
  const user = await bearerTokenUser(token, oauth);
  if (Buffer.compare(Buffer.from(user, "utf8"), request.login) !== 0) throw new AuthRefused("token is for another user");
  return authenticateProven(request.login, config, env, "bearer");
}

/**
 * The checkpassword step of an in-process session: the fd-3 data popup would send,
 * checked by mod/auth's rules with crypt on the worker pool, then what checkpassword
 * checks after the password (the home directory). The result is what the chain's exit
 * status would have said: served (go on), rejected (exit 1) or temporary (anything else),
 * with checkpassword's fatal line where it would have printed one.
 */
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import type { Account } from "../auth/account.ts";
import { authConfigFromEnv } from "../auth/config.ts";
import { AuthRefused, CHECKPASSWORD_MAX_DATA, MalformedRequest, parseRequest } from "../auth/request.ts";
import { daysSinceEpoch } from "../auth/shadow_policy.ts";
import { PoppinError, TempError, describeSysError } from "../cli/errors.ts";
import type { AuthFailure } from "../pop3/authorization.ts";
import { authenticateOffThread, type AsyncAuthTools } from "./async_auth.ts";
import { authenticateWithBearer } from "../auth/bearer_login.ts";

export type LoginResult =
  | { kind: "ok"; account: Account }
  | { kind: "failed"; failure: AuthFailure; detail: string };

export interface LoginSetup {
  tools: AsyncAuthTools;
  euid: number;
  userdbOption: string | undefined;
  /** "checkpassword" or "poppin checkpassword": the prefix of its fatal lines and the failure detail. */
  checkpasswordPrefix: string;
  log(line: string): void;
}

/** checkpassword's chdir(home), without changing our directory: the same failure, the same words. */
function checkHome(account: Account): void {
  try {
    if (!statSync(account.home).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    accessSync(account.home, fsConstants.X_OK);
  } catch (err) {
    throw new TempError(`unable to chdir to ${account.home}: ${describeSysError(err)}`);
  }
}

/** Checks popup's fd-3 data (`user\0password\0timestamp\0`, wiped afterwards) as checkpassword would. */
export async function inlineLogin(data: Uint8Array, env: NodeJS.ProcessEnv, setup: LoginSetup, bearer?: string): Promise<LoginResult> {
  const who = setup.checkpasswordPrefix;
  try {
    // checkpassword reads at most 512 octets and refuses more (exit 1).
    if (data.length > CHECKPASSWORD_MAX_DATA) return { kind: "failed", failure: "rejected", detail: `${who} exit 1` };
    const config = authConfigFromEnv(env, setup.userdbOption);
    const request = parseRequest(data);
    const authEnv = { euid: setup.euid, today: daysSinceEpoch(new Date()) };
    const result = await authenticateWithBearer(request, config, authEnv, env, bearer, () => authenticateOffThread(request, config, authEnv, setup.tools));
    // Only root may switch uids (authenticate() refused any other uid when we are not root).
    if (setup.euid !== 0) checkHome(result.account);
    return { kind: "ok", account: result.account };
  } catch (err) {
    if (err instanceof AuthRefused) return { kind: "failed", failure: "rejected", detail: `${who} exit 1` };
    if (err instanceof MalformedRequest) return { kind: "failed", failure: "temporary", detail: `${who} exit ${err.exitCode}` };
    if (err instanceof PoppinError) {
      setup.log(`${who}: fatal: ${err.message}\n`);
      return { kind: "failed", failure: "temporary", detail: `${who} exit ${err.exitCode}` };
    }
    setup.log(`${who}: fatal: ${(err as Error)?.message ?? String(err)}\n`);
    return { kind: "failed", failure: "temporary", detail: `${who} exit 111` };
  } finally {
    data.fill(0);
  }
}

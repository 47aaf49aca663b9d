/**
 * The classic chain in one process: when popup's subprogram is poppin's own
 * checkpassword and checkpassword's is poppin's own pop3d, popup checks the password
 * itself, becomes the user (groups, gid, uid, home: exactly checkpassword's steps) and
 * then runs the pop3d applet in the same process, with the environment checkpassword
 * would have exec'd it with. A login costs no extra runtime start, and one process lives
 * per session. Foreign programs anywhere in the chain: popup runs the chain as before.
 *
 * The result is what the chain's exit status would have told popup. One difference:
 * after a failure past or inside the uid switch (home or Maildir unusable, a switch the
 * system refused or that left capabilities), this process is no longer what popup started
 * as, so a second login on the same connection gets -ERR [SYS/TEMP] or [AUTH] where the
 * chain would start a fresh checkpassword: every login is switched from the ids popup
 * started with, and served only once that whole switch took.
 * This is applet glue (it prints as checkpassword would), used by popup only.
 */
import { ENV, envValue } from "../base/env.ts";
import { BEARER_VARIABLE, parseBearerForm } from "../sasl/bearer_names.ts";
import { applet as pop3dApplet } from "./pop3d.ts";
import { authenticate } from "../auth/authenticate.ts";
import { becomeAccount, enterHome, sessionEnvironment } from "../auth/session.ts";
import { stopWatchdog } from "../sys/watchdog.ts";
import type { AppletContext } from "../cli/context.ts";
import { EXIT_OK } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { logLine } from "../base/log_value.ts";
import type { ChainResult } from "../session/login_loop.ts";
import { checkLogin } from "../session/login.ts";
import { parseLoginChain, selfResolver, type LoginChain } from "../serve/chain_spec.ts";

/** `env`: the chain's environment for this login (popup's, with mod/sasl/login_env.ts's variables). */
export type OneProcessLogin = (data: Uint8Array, env: NodeJS.ProcessEnv) => Promise<ChainResult>;

/**
 * The login step for popup when `chain` (its argv after the host name) is poppin's own;
 * undefined otherwise (or with POPPIN_ONE_PROCESS=0). `env` is what the chain would get.
 */
export function oneProcessLogin(chain: readonly string[], ctx: AppletContext, env: NodeJS.ProcessEnv): OneProcessLogin | undefined {
  if (!envValue(env, ENV.oneProcess)) return undefined;
  const login = parseLoginChain(chain, selfResolver(ctx.execPath, env.PATH));
  if (typeof login === "string") return undefined;
  // Taken once, before any login: after a switch that failed part-way (the uid taken, then
  // refused for kept capabilities, say) the euid of the moment would make the next login
  // "ours already" and serve it from that half-switched process.
  const euid = process.geteuid!();
  return (data, loginEnv) => loginAndServe(data, login, ctx, loginEnv, euid);
}

/** `euid`: popup's when it started, before any login. */
async function loginAndServe(data: Uint8Array, chain: LoginChain, ctx: AppletContext, base: NodeJS.ProcessEnv, euid: number): Promise<ChainResult> {
  const login = await checkLogin(data, base, {
    userdbOption: chain.userdbOption,
    checkpasswordPrefix: chain.checkpasswordPrefix,
    checkpasswordLabel: chain.checkpasswordLabel,
    euid,
    // The OAuth code is loaded only for a password field that names a bearer token.
    decide: async (request, config, authEnv) => parseBearerForm(request.password) === undefined ? authenticate(request, config, authEnv)
      : (await import("../auth/bearer_login.ts")).authenticateWithBearer(request, config, authEnv, base, base[BEARER_VARIABLE], () => authenticate(request, config, authEnv)),
    // checkpassword's steps after the password: groups, gid, uid, then chdir(home).
    enter(account) {
      becomeAccount(account, euid);
      enterHome(account, base);
    },
    log: (line) => writeStderr(logLine(line)),
  });
  if (login.kind === "failed") {
    // enterHome armed the session's watchdog for the change to the home; after a failure there
    // popup's login loop goes on (its reads have their own timeout), and must not be ended by it.
    stopWatchdog();
    return login;
  }
  const env = sessionEnvironment(base, login.account);
  // checkpassword would exec pop3d with exactly this environment.
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
  const classic = chain.pop3dPrefix === "qmail-pop3d";
  const code = await pop3dApplet.run([...chain.pop3dArgs], {
    applet: "pop3d", calledAs: classic ? "qmail-pop3d" : "pop3d", classic, prefix: chain.pop3dPrefix, execPath: ctx.execPath, env: process.env,
  });
  return code === EXIT_OK || code === undefined ? { kind: "served" } : { kind: "failed", failure: "temporary", detail: `${chain.pop3dLabel} exit ${code}` };
}

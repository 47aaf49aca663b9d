/**
 * The classic chain in one process: when popup's subprogram is poppin's own
 * checkpassword and checkpassword's is poppin's own pop3d, popup checks the password
 * itself, becomes the user (groups, gid, uid, home: exactly checkpassword's steps) and
 * serves pop3d in the same process, so a login costs no extra runtime start and one
 * process lives per session. Foreign programs anywhere in the chain: runChain as before.
 *
 * The result is what the chain's exit status would have told popup. One difference:
 * after a failure past the uid switch (home or Maildir unusable), the process already
 * runs as that user, so a second login on the same connection can only be that user's.
 */
import type { AppletContext } from "../cli/context.ts";
import { AuthRefused, CHECKPASSWORD_MAX_DATA, MalformedRequest, parseRequest } from "../auth/request.ts";
import { authenticate } from "../auth/authenticate.ts";
import { authConfigFromEnv } from "../auth/config.ts";
import { becomeAccount, enterHome, sessionEnvironment } from "../auth/session.ts";
import { daysSinceEpoch } from "../auth/shadow_policy.ts";
import { PoppinError, EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "../cli/errors.ts";
import { writeStderr, writeStdout } from "../cli/io.ts";
import { maildirTmpCleanup } from "../maildir/clean.ts";
import { compatFrom, timeoutMs } from "../pop3/config.ts";
import { FdChannel } from "../pop3/fd_channel.ts";
import { logValue } from "../pop3/log_value.ts";
import { MaildirMailbox } from "../pop3/maildir_mailbox.ts";
import { servePop3d } from "../pop3/pop3d_server.ts";
import type { ChainResult } from "../pop3/popup_server.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { parseLoginChain, selfResolver, type LoginChain } from "./chain_spec.ts";

/** The login step for popup when `chain` (its argv after the host name) is poppin's own; undefined otherwise. */
export function oneProcessLogin(chain: readonly string[], ctx: AppletContext): ((data: Uint8Array) => Promise<ChainResult>) | undefined {
  if (ctx.env.POPPIN_ONE_PROCESS === "0") return undefined;
  const login = parseLoginChain(chain, selfResolver(ctx.execPath, ctx.env.PATH));
  if (typeof login === "string") return undefined;
  return (data) => Promise.resolve(loginAndServe(data, login, ctx));
}

function loginAndServe(data: Uint8Array, chain: LoginChain, ctx: AppletContext): ChainResult {
  const check = chain.checkpasswordPrefix;
  let env: Record<string, string>;
  try {
    if (data.length > CHECKPASSWORD_MAX_DATA) return { kind: "failed", failure: "rejected", detail: `${check} exit 1` };
    const config = authConfigFromEnv(ctx.env, chain.userdbOption);
    const euid = process.geteuid!();
    const result = authenticate(parseRequest(data), config, { euid, today: daysSinceEpoch(new Date()) });
    becomeAccount(result.account, euid);
    enterHome(result.account);
    env = sessionEnvironment(ctx.env, result.account);
  } catch (e) {
    if (e instanceof AuthRefused) return { kind: "failed", failure: "rejected", detail: `${check} exit 1` };
    if (e instanceof MalformedRequest) return { kind: "failed", failure: "temporary", detail: `${check} exit ${EXIT_USAGE}` };
    if (e instanceof PoppinError) {
      writeStderr(`${check}: fatal: ${e.message}\n`);
      return { kind: "failed", failure: "temporary", detail: `${check} exit ${e.exitCode}` };
    }
    throw e;
  } finally {
    data.fill(0);
  }
  // checkpassword would exec pop3d with this environment: it is pop3d's from here on.
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
  const code = servePop3dHere(chain, env);
  return code === EXIT_OK ? { kind: "served" } : { kind: "failed", failure: "temporary", detail: `${chain.pop3dPrefix} exit ${code}` };
}

/** pop3d's applet body, in this process (the directory is the user's home already). */
function servePop3dHere(chain: LoginChain, env: Record<string, string>): number {
  const prefix = chain.pop3dPrefix;
  const compat = compatFrom(chain.compatOption, env);
  if (compat === undefined) {
    writeStdout(err(TEXT.noMaildir));
    writeStderr(`${prefix}: usage: ${prefix} [--compat=qmail|rfc] maildir\n`);
    return EXIT_USAGE;
  }
  const who = `user=${logValue(env.USER ?? "-")} rip=${logValue(env.TCPREMOTEIP ?? "unknown")}`;
  let mailbox: MaildirMailbox;
  try {
    try {
      maildirTmpCleanup(chain.maildir);
    } catch {
      // a missing Maildir is reported by the scan below
    }
    mailbox = new MaildirMailbox(chain.maildir, { compat, onWarning: (m) => writeStderr(`${prefix}: warning: ${m} ${who}\n`) });
  } catch (e) {
    if (!(e instanceof PoppinError)) throw e;
    writeStdout(err(e.exitCode === EXIT_TEMP ? TEXT.scanFailed : TEXT.noMaildir));
    writeStderr(`${prefix}: fatal: ${e.message} ${who}\n`);
    return EXIT_TEMP;
  }
  const stats = servePop3d(new FdChannel(0, 1, timeoutMs(env)), mailbox, { qmailLast: compat === "qmail" });
  for (const problem of stats.problems) writeStderr(`${prefix}: warning: ${problem} ${who}\n`);
  writeStderr(`${prefix}: info: end=${stats.end} ${who} messages=${stats.messages} retrieved=${stats.retrieved} octets=${stats.octetsSent} deleted=${stats.deleted}${stats.unremoved ? ` unremoved=${stats.unremoved}` : ""}\n`);
  return EXIT_OK;
}

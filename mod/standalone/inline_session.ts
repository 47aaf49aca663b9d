/**
 * One POP3 session served in serve's process: popup's AUTHORIZATION state, the login
 * (checkpassword's decision, crypt on the worker pool), then pop3d's TRANSACTION state
 * on the user's Maildir, in-process when we run as the mailbox owner's uid, or in a
 * process of the user's own when we are root. The same engine, responses, environment
 * settings and log lines as the classic chain; the result is the exit status the chain
 * would have ended with, for tcpserver's `end` line.
 */
import { isAbsolute, join } from "node:path";
import type net from "node:net";
import { PoppinError, EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "../cli/errors.ts";
import { maildirTmpCleanup } from "../maildir/clean.ts";
import { authenticationFailed, newAuthorizationState } from "../pop3/authorization.ts";
import { apopOffered, compatFrom, timeoutMs } from "../pop3/config.ts";
import { logValue } from "../pop3/log_value.ts";
import { MaildirMailbox } from "../pop3/maildir_mailbox.ts";
import { TEXT, err, ok } from "../pop3/responses.ts";
import { authorizationSession } from "../pop3/session.ts";
import type { Account } from "../auth/account.ts";
import { waitStatus } from "../serve/log_lines.ts";
import type { PopupChain } from "./chain_spec.ts";
import type { AsyncAuthTools } from "./async_auth.ts";
import { INLINE_OUTPUT_OCTETS, serveTransaction } from "./inline_transaction.ts";
import { inlineLogin } from "./inline_login.ts";
import type { SessionCounters, SessionState } from "./session_counters.ts";
import { SocketLines, SocketOutput } from "./socket_io.ts";
import { PIPELINED_VARIABLE, pipelinedValue } from "./pipelined_input.ts";
import { startUserProcess } from "./user_process.ts";

export interface InlineSetup {
  chain: PopupChain;
  tools: AsyncAuthTools;
  euid: number;
  execPath: string;
  counters: SessionCounters;
  /** Writes one finished log line (stderr). */
  log(line: string): void;
  /** Called with the pid of a user process, for tcpserver's pid/ok lines. */
  onUserProcess?(pid: number): void;
}

/** A session number for APOP timestamps: unique within this process, as qmail-popup's pid is. */
let sessionSerial = 0;

/** Serves the session; resolves to the wait status the chain would have ended with. */
export async function runInlineSession(socket: net.Socket, fd: number, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { counters } = setup;
  const input = new SocketLines(socket, timeoutMs(env));
  const out = new SocketOutput(socket, 4096);
  let state: SessionState = "authorization";
  counters.enter(state);
  const move = (next: SessionState) => {
    counters.leave(state);
    state = next;
    counters.enter(state);
  };
  try {
    const account = await authorize(input, out, env, setup);
    if (account === undefined) return EXIT_OK;
    counters.loginsOk++;
    if (setup.euid === 0) {
      move("user_process");
      return await handOver(input, fd, account, env, setup);
    }
    move("transaction");
    return await servePop3dInline(input, socket, account, env, setup);
  } finally {
    counters.leave(state);
    out.flush();
    if (!socket.destroyed) socket.end();
  }
}

/** popup's loop; the account once a login succeeded, undefined when the session ended before. */
async function authorize(input: SocketLines, out: SocketOutput, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<Account | undefined> {
  const { chain } = setup;
  const offerApop = apopOffered(env);
  const timestamp = `<${process.pid}.${++sessionSerial}.${Math.floor(Date.now() / 1000)}@${chain.hostname}>`;
  const state = newAuthorizationState(offerApop ? timestamp : undefined);
  const session = authorizationSession(state);
  const rip = logValue(env.TCPREMOTEIP ?? "unknown");
  out.put(offerApop ? ok(timestamp) : ok());
  for (;;) {
    const outcome = session.next();
    if (outcome === undefined) {
      if (!input.hasLine) {
        out.flush();
        await out.drained();
      }
      const piece = await input.next();
      if (piece === undefined) return undefined;
      session.push(piece);
      continue;
    }
    if (outcome.reply) out.put(outcome.reply);
    const action = outcome.action;
    if (action?.kind === "authenticate") {
      out.flush();
      const result = await inlineLogin(
        { user: action.user, password: action.password, timestamp },
        env,
        { tools: setup.tools, euid: setup.euid, userdbOption: chain.userdbOption, checkpasswordPrefix: chain.checkpasswordPrefix, log: setup.log },
      );
      if (result.kind === "ok") return result.account;
      if (result.failure === "rejected") setup.counters.loginsFailed++;
      else setup.counters.loginsTemporaryFailure++;
      const what = result.failure === "rejected" ? "authorization failed" : "authorization temporary failure";
      setup.log(`${chain.popupPrefix}: warning: ${what} rip=${rip} user=${logValue(action.user)}${result.failure === "rejected" ? "" : ` why=${logValue(result.detail)}`}\n`);
      const failed = session.apply(authenticationFailed(state, result.failure));
      if (failed.reply) out.put(failed.reply);
      if (failed.close) return undefined;
      continue;
    }
    if (outcome.close) return undefined;
  }
}

/** pop3d in this process: we already run as the mailbox owner (authenticate() admits no other uid). */
async function servePop3dInline(input: SocketLines, socket: net.Socket, account: Account, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { chain } = setup;
  const prefix = chain.pop3dPrefix;
  const out = new SocketOutput(socket, INLINE_OUTPUT_OCTETS);
  const who = `user=${logValue(account.login)} rip=${logValue(env.TCPREMOTEIP ?? "unknown")}`;
  const compat = compatFrom(chain.compatOption, env);
  if (compat === undefined) {
    out.put(err(TEXT.noMaildir));
    out.flush();
    setup.log(`${prefix}: usage: ${prefix} [--compat=qmail|rfc] maildir\n`);
    return EXIT_USAGE << 8;
  }
  const dir = isAbsolute(chain.maildir) ? chain.maildir : join(account.home, chain.maildir);
  let mailbox: MaildirMailbox;
  try {
    try {
      maildirTmpCleanup(dir);
    } catch {
      // a missing Maildir is reported by the scan
    }
    mailbox = new MaildirMailbox(dir, { compat, onWarning: (m) => setup.log(`${prefix}: warning: ${m} ${who}\n`) });
  } catch (e) {
    if (!(e instanceof PoppinError)) throw e;
    out.put(err(e.exitCode === EXIT_TEMP ? TEXT.scanFailed : TEXT.noMaildir));
    out.flush();
    setup.log(`${prefix}: fatal: ${e.message} ${who}\n`);
    return EXIT_TEMP << 8;
  }
  out.put(ok());
  const stats = await serveTransaction(input, out, mailbox, { qmailLast: compat === "qmail" });
  out.flush();
  for (const problem of stats.problems) setup.log(`${prefix}: warning: ${problem} ${who}\n`);
  setup.log(`${prefix}: info: end=${stats.end} ${who} messages=${stats.messages} retrieved=${stats.retrieved} octets=${stats.octetsSent} deleted=${stats.deleted}${stats.unremoved ? ` unremoved=${stats.unremoved}` : ""}\n`);
  return EXIT_OK;
}

/** We are root: pop3d runs as the user, with the connection; we wait for it as tcpserver would. */
async function handOver(input: SocketLines, fd: number, account: Account, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { chain } = setup;
  const leftover = input.detach();
  const childEnv: NodeJS.ProcessEnv = { ...env };
  delete childEnv[PIPELINED_VARIABLE];
  if (leftover.length > 0) {
    const value = pipelinedValue(leftover);
    if (value !== undefined) childEnv[PIPELINED_VARIABLE] = value;
    else setup.log(`${chain.popupPrefix}: warning: ${leftover.length} octets pipelined after PASS dropped rip=${logValue(env.TCPREMOTEIP ?? "unknown")} user=${logValue(account.login)}\n`);
  }
  const started = startUserProcess(fd, account, childEnv, {
    execPath: setup.execPath, pop3dPrefix: chain.pop3dPrefix, compatOption: chain.compatOption, maildir: chain.maildir,
  });
  if (started.kind === "failed") {
    setup.log(`${chain.checkpasswordPrefix}: fatal: ${started.detail}\n`);
    input.socket.write(err(TEXT.authTemp));
    return EXIT_TEMP << 8;
  }
  setup.onUserProcess?.(started.pid);
  // Our copy of the connection goes now: the user's process holds it (never end(): that sends FIN).
  input.socket.destroy();
  const { exitCode, signalCode } = await started.exited;
  return waitStatus(exitCode, signalCode);
}

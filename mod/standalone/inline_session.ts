/**
 * One POP3 session served in serve's process: popup's AUTHORIZATION loop (servePopup,
 * with the same policy, APOP, AUTH PLAIN, failure delay and limits), the login
 * (checkpassword's decision, crypt on the worker pool), then pop3d's TRANSACTION state
 * on the user's Maildir: in this process when we run as the mailbox owner's uid, or in a
 * process of the user's own when we are root. The same engine, responses, environment
 * settings and log lines as the classic chain; the result is the wait status the chain
 * would have ended with, for tcpserver's `end` line. STLS upgrades the session's socket
 * here (mod/tls); implicit TLS (--tls) arrives already negotiated by the server.
 */
import { isAbsolute, join } from "node:path";
import type net from "node:net";
import type tls from "node:tls";
import type { Account } from "../auth/account.ts";
import { sessionEnvironment } from "../auth/session.ts";
import { DECOY_SETTINGS } from "../auth/verify.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, UsageError } from "../cli/errors.ts";
import { maildirTmpCleanup } from "../maildir/clean.ts";
import { isMboxArgument } from "../mbox/spool_path.ts";
import { apopOffered, compatFrom } from "../pop3/config.ts";
import { logValue } from "../pop3/log_value.ts";
import { MaildirMailbox } from "../pop3/maildir_mailbox.ts";
import { servePopup, type PopupChannel } from "../pop3/popup_server.ts";
import { TEXT, err, ok } from "../pop3/responses.ts";
import { loginChecks } from "../policy/login_checks.ts";
import { loginPolicy } from "../policy/login_policy.ts";
import { mailboxWithExpire, pop3dPolicy, sessionOptions, sessionStatistics } from "../policy/pop3d_policy.ts";
import { RETRIEVAL_RECORD_NAME } from "../pop3/expire.ts";
import type { Mailbox } from "../pop3/mailbox.ts";
import { policyEnv, resolvePolicy, type Resolved } from "../policy/resolve.ts";
import { waitStatus } from "../serve/log_lines.ts";
import type { TlsContextHolder } from "../tls/context.ts";
import { acceptTls } from "../tls/handshake.ts";
import type { AsyncAuthTools } from "./async_auth.ts";
import type { PopupChain } from "./chain_spec.ts";
import { inlineLogin } from "./inline_login.ts";
import { inlineSessionStart } from "./inline_session_start.ts";
import { INLINE_OUTPUT_OCTETS, serveTransaction } from "./inline_transaction.ts";
import type { ListingCache } from "./listing_cache.ts";
import { PIPELINED_VARIABLE, pipelinedValue } from "./pipelined_input.ts";
import type { SessionCounters, SessionState } from "./session_counters.ts";
import { LOGIN_QUEUED_OUTPUT_OCTETS, SocketLines, SocketOutput } from "./socket_io.ts";
import { startUserProcess, startUserProcessOverTls } from "./user_process.ts";
import { channelBindingData } from "../tls/channel_binding.ts";
import { userdbScramKeys } from "../sasl/scram_userdb.ts";
import { bearerConfigured } from "../auth/oauth.ts";
import { loginEnvironment, MECHANISM_VARIABLE } from "../sasl/login_env.ts";

export interface InlineSetup {
  chain: PopupChain;
  /** Listings of big Maildirs kept between sessions (undefined: scan every time). */
  listings?: ListingCache;
  /** popup's STLS: the certificate from its policy (CERTFILE, config, options), loaded at start. */
  stls?: { holder: TlsContextHolder; handshakeTimeoutMs: number };
  tools: AsyncAuthTools;
  euid: number;
  execPath: string;
  counters: SessionCounters;
  /** Writes one finished log line (stderr). */
  log(line: string): void;
  /** Serves a session instead of runInlineSession (the proxy tier: mod/standalone/inline_proxy.ts). */
  serveSession?: (socket: net.Socket, fd: number | undefined, env: NodeJS.ProcessEnv, setup: InlineSetup) => Promise<number>;
}

/** A session number for APOP timestamps: unique within this process, as qmail-popup's pid is. */
let sessionSerial = 0;

/** The connection as the session uses it; replaced as a whole after STLS. */
interface SessionIo {
  socket: net.Socket;
  input: SocketLines;
  out: SocketOutput;
  /** The socket's descriptor for a user process; undefined once TLS runs here (it cannot be handed over). */
  fd: number | undefined;
  /** The read/write timeout (POPPIN_TIMEOUT, the policy's timeout). */
  timeoutMs: number;
}

/**
 * Serves the session; resolves to the wait status the chain would have ended with.
 * `fd` is the plain socket's descriptor (undefined for a TLS socket from --tls).
 */
export async function runInlineSession(socket: net.Socket, fd: number | undefined, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { counters, chain } = setup;
  const popupWarn = (text: string) => setup.log(`${chain.popupPrefix}: warning: ${text}\n`);
  let resolved: Resolved;
  try {
    resolved = resolvePolicy(chain.popupOptions, env);
  } catch (e) {
    if (!(e instanceof PoppinError)) throw e;
    socket.end(err(TEXT.authTemp));
    if (e instanceof UsageError) popupWarn(e.message);
    else setup.log(`${chain.popupPrefix}: fatal: ${e.message}\n`);
    return waitStatus(e instanceof UsageError ? EXIT_USAGE : EXIT_TEMP, null);
  }
  const chainEnv: NodeJS.ProcessEnv = { ...env, ...policyEnv(resolved.settings) };
  const timeout = resolved.policy.timeoutMs;
  const io: SessionIo = { socket, input: new SocketLines(socket, timeout), out: new SocketOutput(socket, 4096, timeout, undefined, LOGIN_QUEUED_OUTPUT_OCTETS), fd, timeoutMs: timeout };
  let state: SessionState = "authorization";
  counters.enter(state);
  const move = (next: SessionState) => {
    counters.leave(state);
    state = next;
    counters.enter(state);
  };
  try {
    const account = await authorize(io, resolved, chainEnv, setup);
    if (account === undefined) return EXIT_OK;
    counters.loginsOk++;
    // mbox spools: pop3d's own code in a process of the session (its spool locks wait synchronously).
    if (setup.euid === 0 || isMboxArgument(chain.maildir)) {
      move("user_process");
      return await handOver(io, account, chainEnv, setup);
    }
    move("transaction");
    return await servePop3dInline(io, account, chainEnv, setup);
  } finally {
    counters.leave(state);
    io.out.flush();
    if (!io.socket.destroyed) io.socket.end();
  }
}

/** STLS: the +OK goes out in plain, what the client sent before the handshake is discarded (RFC 2595 section 4). */
async function startTls(io: SessionIo, stls: NonNullable<InlineSetup["stls"]>, timeoutMs: number): Promise<void> {
  io.out.flush();
  io.input.detach();
  const secure = await acceptTls(io.socket, stls.holder.context, stls.handshakeTimeoutMs);
  io.socket = secure;
  io.input = new SocketLines(secure, timeoutMs);
  io.out = new SocketOutput(secure, 4096, timeoutMs, undefined, LOGIN_QUEUED_OUTPUT_OCTETS);
  io.fd = undefined;
}

/** popup's loop; the account once a login succeeded, undefined when the session ended before. */
async function authorize(io: SessionIo, resolved: Resolved, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<Account | undefined> {
  const { chain, counters } = setup;
  const { policy } = resolved;
  const remoteIp = env.TCPREMOTEIP ?? "unknown";
  const rip = logValue(remoteIp);
  const checks = loginChecks(policy, remoteIp);
  let account: Account | undefined;
  // Reads and writes go to whatever io holds now (the TLS socket after STLS).
  const channel: PopupChannel = {
    readToLineEnd: async (buf) => {
      if (io.out.closed) return 0; // the client is gone: what it pipelined is not answered
      if (!io.input.hasLine) await io.out.sent();
      else await io.out.room(); // bounded output: a client that pipelines and does not read is not read either
      return io.input.readToLineEnd(buf);
    },
    write: (bytes) => io.out.put(bytes),
    channelBinding: (type) => (io.socket as { encrypted?: boolean }).encrypted === true ? channelBindingData(io.socket as tls.TLSSocket, type) : undefined,
  };
  const userdb = chain.userdbOption ?? (env.POPPIN_USERDB || undefined);
  const implicitTls = (env.SSL_PROTOCOL ?? "") !== "";
  const stls = policy.certFile !== undefined && !implicitTls ? setup.stls : undefined;
  const end = await servePopup(channel, {
    timestamp: `<${process.pid}.${++sessionSerial}.${Math.floor(Date.now() / 1000)}@${chain.hostname}>`,
    offerApop: policy.apop ?? apopOffered(env),
    policy: loginPolicy(policy, remoteIp, stls !== undefined),
    tls: implicitTls,
    startTls: stls === undefined ? undefined : async () => {
      await startTls(io, stls, policy.timeoutMs);
      return channel;
    },
    failureDelayMs: policy.failureDelayMs,
    admit: checks.admit,
    async decoy(password) {
      for (const setting of DECOY_SETTINGS) await setup.tools.pool.crypt(password, setting);
    },
    async authenticate(data, _channel, login) {
      const loginEnv = loginEnvironment(env, login);
      const result = await inlineLogin(data, loginEnv, {
        tools: setup.tools, euid: setup.euid, userdbOption: chain.userdbOption, checkpasswordPrefix: chain.checkpasswordPrefix, log: setup.log,
      }, login?.bearer);
      if (result.kind === "ok") {
        account = result.account;
        if (login?.mechanism !== undefined) env[MECHANISM_VARIABLE] = login.mechanism;
        return { kind: "served" };
      }
      return result;
    },
    onFailure(user, failure, detail, mechanism) {
      if (failure === "rejected") counters.loginsFailed++;
      else counters.loginsTemporaryFailure++;
      setup.log(`${chain.popupPrefix}: warning: ${checks.failed(user, failure, detail, mechanism)}\n`);
    },
    scramKeys: userdb === undefined ? undefined : userdbScramKeys(userdb),
    bearer: bearerConfigured(env),
  });
  io.out.flush();
  if (end === "tls-failed") setup.log(`${chain.popupPrefix}: warning: TLS negotiation failed rip=${rip}\n`);
  if (end === "tls-on-plain") setup.log(`${chain.popupPrefix}: warning: TLS handshake on the plain port, dropped rip=${rip}\n`);
  return end === "served" ? account : undefined;
}

/** pop3d in this process: we already run as the mailbox owner (authenticate() admits no other uid). */
async function servePop3dInline(io: SessionIo, account: Account, base: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { chain } = setup;
  const prefix = chain.pop3dPrefix;
  const env = sessionEnvironment(base, account);
  io.out.flush();
  const input = io.input;
  const out = new SocketOutput(io.socket, INLINE_OUTPUT_OCTETS, io.timeoutMs, io.fd);
  const log = (kind: string, text: string) => setup.log(`${prefix}: ${kind}: ${text}\n`);
  const who = `user=${logValue(account.login)} rip=${logValue(env.TCPREMOTEIP ?? "unknown")}`;
  const compat = compatFrom(chain.compatOption, env);
  if (compat === undefined) {
    out.put(err(TEXT.noMaildir));
    out.flush();
    log("usage", `${prefix} [--compat=qmail|rfc] maildir`);
    return waitStatus(EXIT_USAGE, null);
  }
  const dir = isAbsolute(chain.maildir) ? chain.maildir : join(account.home, chain.maildir);
  let release = () => {};
  try {
    let mailbox: Mailbox;
    let policy;
    try {
      policy = pop3dPolicy(env);
      const start = await inlineSessionStart(dir, policy, env);
      if (start.kind === "refuse") {
        out.put(err(start.reply));
        out.flush();
        log("warning", `${start.log} ${who}`);
        return EXIT_OK;
      }
      release = start.release;
      for (const note of start.notes) log("info", `${note} ${who}`);
      for (const problem of start.warnings) log("warning", `${problem} ${who}`);
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      out.put(err(TEXT.scanFailed));
      out.flush();
      log("fatal", `${e.message} ${who}`);
      return waitStatus(EXIT_TEMP, null);
    }
    try {
      try {
        maildirTmpCleanup(dir);
      } catch {
        // a missing Maildir is reported by the scan
      }
      mailbox = new MaildirMailbox(dir, { compat, onWarning: (m) => log("warning", `${m} ${who}`), scan: setup.listings?.scan });
      mailbox = mailboxWithExpire(mailbox, policy, join(dir, RETRIEVAL_RECORD_NAME));
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      out.put(err(e.exitCode === EXIT_TEMP ? TEXT.scanFailed : TEXT.noMaildir));
      out.flush();
      log("fatal", `${e.message} ${who}`);
      return waitStatus(EXIT_TEMP, null);
    }
    out.put(ok());
    const stats = await serveTransaction(input, out, mailbox, sessionOptions(policy, { qmailLast: compat === "qmail" }));
    // As qmail-pop3d exits only once its last write went out: a slow reader that pipelined QUIT
    // still gets everything before the connection is closed (and its timer stops counting).
    await out.sent();
    for (const problem of stats.problems) log("warning", `${problem} ${who}`);
    const statistics = sessionStatistics(policy, stats, env);
    if (statistics !== undefined) log("info", statistics);
    log("info", `end=${stats.end} ${who} messages=${stats.messages} retrieved=${stats.retrieved} octets=${stats.octetsSent} deleted=${stats.deleted}${stats.unremoved ? ` unremoved=${stats.unremoved}` : ""}`);
    return EXIT_OK;
  } finally {
    release();
  }
}

/**
 * pop3d in a process of its own, with the connection; we wait for it as tcpserver would. As
 * root it runs as the user; under -u (an mbox session) with our uid, which is the user's.
 */
async function handOver(io: SessionIo, account: Account, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { chain } = setup;
  const { input, fd } = io;
  io.out.flush();
  const leftover = input.detach();
  const spec = { execPath: setup.execPath, pop3dPrefix: chain.pop3dPrefix, pop3dArgs: chain.pop3dArgs, log: setup.log };
  if (fd === undefined) {
    // TLS runs here (STLS or --tls): pop3d gets the plaintext through pipes; the key stays in serve.
    const started = startUserProcessOverTls(input.socket as tls.TLSSocket, leftover, account, env, spec);
    if (started.kind === "failed") {
      setup.log(`${chain.checkpasswordPrefix}: fatal: ${started.detail}\n`);
      input.socket.write(err(TEXT.authTemp));
      return waitStatus(EXIT_TEMP, null);
    }
    const { exitCode, signalCode } = await started.exited;
    return waitStatus(exitCode, signalCode);
  }
  const childEnv: NodeJS.ProcessEnv = { ...env };
  delete childEnv[PIPELINED_VARIABLE];
  if (leftover.length > 0) {
    const value = pipelinedValue(leftover);
    if (value !== undefined) childEnv[PIPELINED_VARIABLE] = value;
    else setup.log(`${chain.popupPrefix}: warning: ${leftover.length} octets pipelined after PASS dropped rip=${logValue(env.TCPREMOTEIP ?? "unknown")} user=${logValue(account.login)}\n`);
  }
  const started = startUserProcess(fd, account, childEnv, spec);
  if (started.kind === "failed") {
    setup.log(`${chain.checkpasswordPrefix}: fatal: ${started.detail}\n`);
    input.socket.write(err(TEXT.authTemp));
    return waitStatus(EXIT_TEMP, null);
  }
  // Our copy of the connection goes now: the user's process holds it (never end(): that sends FIN).
  input.socket.destroy();
  const { exitCode, signalCode } = await started.exited;
  return waitStatus(exitCode, signalCode);
}

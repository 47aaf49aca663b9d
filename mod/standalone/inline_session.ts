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
import type net from "node:net";
import type tls from "node:tls";
import type { Account } from "../auth/account.ts";
import { sessionEnvironment } from "../auth/session.ts";
import { DECOY_SETTINGS } from "../auth/verify.ts";
import { accessSync, closeSync, constants as fsConstants, realpathSync, statSync } from "node:fs";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, TempError, UsageError, describeSysError } from "../base/errors.ts";
import { checkLogin, runLogin } from "../session/login.ts";
import { runMailboxSession } from "../session/mailbox_session.ts";
import { SESSION_OUTPUT_OCTETS } from "../session/transaction_loop.ts";
import { isMboxArgument } from "../mbox/spool_path.ts";
import { compatFrom } from "../pop3/config.ts";
import { logValue } from "../base/log_value.ts";
import type { PopupChannel } from "../session/login_loop.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { policyEnv, resolvePolicy, type Resolved } from "../policy/resolve.ts";
import { waitStatus } from "../serve/log_lines.ts";
import type { TlsContextHolder } from "../tls/context.ts";
import { acceptTls } from "../tls/handshake.ts";
import type { AsyncAuthTools } from "./async_auth.ts";
import type { PopupChain } from "../serve/chain_spec.ts";
import { authenticateOffThread } from "./async_auth.ts";
import { authenticateWithBearer } from "../auth/bearer_login.ts";
import { ENV, envValue } from "../base/env.ts";
import { socketTransactionChannel } from "./_socket_channel.ts";
import type { ListingCache } from "./listing_cache.ts";
import { PIPELINED_FD_VARIABLE, PIPELINED_VARIABLE, pipelinedValue } from "../session/pipelined_input.ts";
import { sealedFile } from "../sys/sealed_file.ts";
import { checkRealHome } from "../auth/home_base.ts";
import { killedBy } from "../sys/watchdog.ts";
import type { SessionCounters, SessionState } from "./session_counters.ts";
import { closeWhenDone, discardPlainInput, LOGIN_OUTPUT_OCTETS, LOGIN_QUEUED_OUTPUT_OCTETS, SocketLines, SocketOutput, socketLoginRead } from "./socket_io.ts";
import type { MailWorkerPool } from "./mail_worker_pool.ts";
import { serveByWorker } from "./mail_worker_session.ts";
import { startUserProcess, startUserProcessOverTls } from "./user_process.ts";
import { channelBindingData } from "../tls/channel_binding.ts";
import { userdbScramKeys } from "../sasl/scram_userdb.ts";
import { bearerConfigured, bearerDecoy } from "../auth/oauth.ts";
import { bearerExchange } from "../sasl/oauthbearer.ts";
import { loginEnvironment, MECHANISM_VARIABLE, OFFERED_VARIABLE } from "../sasl/login_env.ts";
import { clientAddressKnown } from "../base/ucspi_env.ts";
import { fillFromInheritedConnection } from "../serve/inherited_connection.ts";

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
  /** serve as root: mail workers started ahead of need for system users' sessions (mail_worker_pool.ts). */
  workers?: MailWorkerPool;
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
 * popup's start for a session served here: the connection's variables as popup reads them
 * (mod/base/ucspi_env.ts), then its policy; when that cannot be had, the client's -ERR,
 * popup's warning or fatal line and the wait status popup would exit with.
 */
export function inlinePolicy(socket: net.Socket, fd: number | undefined, env: NodeJS.ProcessEnv, setup: InlineSetup): Resolved | number {
  const { chain } = setup;
  if (!clientAddressKnown(env) && fd !== undefined) fillFromInheritedConnection(env, fd);
  try {
    return resolvePolicy(chain.popupOptions, env);
  } catch (e) {
    if (!(e instanceof PoppinError)) throw e;
    socket.end(err(TEXT.authTemp));
    setup.log(`${chain.popupPrefix}: ${e instanceof UsageError ? "warning" : "fatal"}: ${e.message}\n`);
    return waitStatus(e instanceof UsageError ? EXIT_USAGE : EXIT_TEMP, null);
  }
}

/**
 * Serves the session; resolves to the wait status the chain would have ended with.
 * `fd` is the plain socket's descriptor (undefined for a TLS socket from --tls).
 */
export async function runInlineSession(socket: net.Socket, fd: number | undefined, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { counters, chain } = setup;
  const resolved = inlinePolicy(socket, fd, env, setup);
  if (typeof resolved === "number") return resolved;
  const chainEnv: NodeJS.ProcessEnv = { ...env, ...policyEnv(resolved.settings) };
  const timeout = resolved.policy.timeoutMs;
  // Plain: the login's answers go straight to the descriptor, as the transaction's do.
  const io: SessionIo = { socket, input: new SocketLines(socket, timeout), out: new SocketOutput(socket, LOGIN_OUTPUT_OCTETS, timeout, fd, LOGIN_QUEUED_OUTPUT_OCTETS), fd, timeoutMs: timeout };
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
    closeWhenDone(io.socket, io.timeoutMs);
  }
}

/** STLS: the +OK goes out in plain, what the client sent before the handshake is discarded (RFC 2595 section 4). */
async function startTls(io: SessionIo, stls: NonNullable<InlineSetup["stls"]>, timeoutMs: number): Promise<void> {
  io.out.flush();
  io.input.detach();
  const secure = await acceptTls(io.socket, stls.holder.context, stls.handshakeTimeoutMs);
  io.socket = secure;
  io.input = new SocketLines(secure, timeoutMs);
  io.out = new SocketOutput(secure, LOGIN_OUTPUT_OCTETS, timeoutMs, undefined, LOGIN_QUEUED_OUTPUT_OCTETS);
  io.fd = undefined;
}

/**
 * checkpassword's chdir(home), without changing our directory: the same failure, the same words;
 * then where the home leads (POPPIN_HOME_BASE). Only under -u, where we run as the owner's uid.
 */
function checkHome(account: Account, env: NodeJS.ProcessEnv): void {
  let real: string;
  try {
    if (!statSync(account.home).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    accessSync(account.home, fsConstants.X_OK);
    real = realpathSync(account.home);
  } catch (err) {
    throw new TempError(`unable to chdir to ${account.home}: ${describeSysError(err)}`);
  }
  checkRealHome(account, real, envValue(env, ENV.homeBase));
}

/** popup's loop (mod/session); the account once a login succeeded, undefined when the session ended before. */
async function authorize(io: SessionIo, resolved: Resolved, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<Account | undefined> {
  const { chain, counters } = setup;
  const { policy } = resolved;
  let account: Account | undefined;
  // Reads and writes go to whatever io holds now (the TLS socket after STLS).
  const channel: PopupChannel = {
    readToLineEnd: socketLoginRead(io),
    write: (bytes) => io.out.put(bytes),
    discardPending: () => discardPlainInput(io.input, io.fd),
    channelBinding: (type) => (io.socket as { encrypted?: boolean }).encrypted === true ? channelBindingData(io.socket as tls.TLSSocket, type) : undefined,
  };
  const userdb = chain.userdbOption ?? envValue(env, ENV.userdb);
  const implicitTls = (env.SSL_PROTOCOL ?? "") !== "";
  const stls = policy.certFile !== undefined && !implicitTls ? setup.stls : undefined;
  const end = await runLogin(channel, {
    policy,
    env,
    timestamp: `<${process.pid}.${++sessionSerial}.${Math.floor(Date.now() / 1000)}@${chain.hostname}>`,
    startTls: stls === undefined ? undefined : async () => {
      await startTls(io, stls, policy.timeoutMs);
      return channel;
    },
    async decoy(password, login) {
      if (login?.bearer !== undefined) return bearerDecoy(login.bearer, env);
      for (const setting of DECOY_SETTINGS) await setup.tools.pool.crypt(password, setting);
    },
    async authenticate(data, _channel, login) {
      const loginEnv = loginEnvironment(env, login);
      const result = await checkLogin(data, loginEnv, {
        userdbOption: chain.userdbOption,
        checkpasswordPrefix: chain.checkpasswordPrefix,
        checkpasswordLabel: chain.checkpasswordLabel,
        euid: setup.euid,
        decide: (request, config, authEnv) => authenticateWithBearer(request, config, authEnv, loginEnv, login?.bearer,
          () => authenticateOffThread(request, config, authEnv, setup.tools)),
        // Only root may switch uids (authenticate() refused any other uid when we are not root).
        enter: (found) => setup.euid !== 0 && checkHome(found, env),
        log: setup.log,
      });
      if (result.kind === "ok") {
        account = result.account;
        // What popup would tell its chain about the login: the mechanism, and what CAPA offered.
        for (const key of [MECHANISM_VARIABLE, OFFERED_VARIABLE]) if (loginEnv[key] !== undefined) env[key] = loginEnv[key];
        return { kind: "served" };
      }
      return result;
    },
    warn: (text) => setup.log(`${chain.popupPrefix}: warning: ${text}\n`),
    failed(failure) {
      if (failure === "rejected") counters.loginsFailed++;
      else counters.loginsTemporaryFailure++;
    },
    scramKeys: userdb === undefined ? undefined : userdbScramKeys(userdb),
    bearer: bearerConfigured(env) ? bearerExchange : undefined,
  });
  // After a login, what is gathered goes out with the mailbox session's first answer.
  if (end !== "served") io.out.flush();
  return end === "served" ? account : undefined;
}

/** pop3d in this process (mod/session): we already run as the mailbox owner (authenticate() admits no other uid). */
async function servePop3dInline(io: SessionIo, account: Account, base: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> {
  const { chain } = setup;
  const prefix = chain.pop3dPrefix;
  const env = sessionEnvironment(base, account);
  const out = new SocketOutput(io.socket, SESSION_OUTPUT_OCTETS, io.timeoutMs, io.fd);
  // The login's last answers (the greeting and USER's +OK of a pipelined login) go out with
  // the session's first write, in order (a socket still holding earlier output keeps them behind it).
  out.put(io.out.buf.subarray(0, io.out.length));
  io.out.length = 0;
  const log = (kind: string, text: string) => setup.log(`${prefix}: ${kind}: ${text}\n`);
  const compat = compatFrom(chain.compatOption, env);
  if (compat === undefined) {
    out.put(err(TEXT.noMaildir));
    out.flush();
    log("usage", `${prefix} [--compat=qmail|rfc] maildir`);
    return waitStatus(EXIT_USAGE, null);
  }
  const end = await runMailboxSession({ mailbox: chain.maildir, home: account.home, compat, env, scan: setup.listings?.scan }, {
    log,
    refuse(reply) {
      out.put(reply);
      out.flush();
    },
    channel: () => socketTransactionChannel(io.input, out),
    // As qmail-pop3d exits only once its last write went out: a slow reader that pipelined QUIT
    // still gets everything before the connection is closed (and its timer stops counting).
    sent: () => out.sent(),
  });
  return end.kind === "failed" ? waitStatus(EXIT_TEMP, null) : EXIT_OK;
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
  const childEnv: NodeJS.ProcessEnv = { ...env };
  delete childEnv[PIPELINED_VARIABLE];
  delete childEnv[PIPELINED_FD_VARIABLE];
  const pipelined = leftover.length > 0 ? pipelinedValue(leftover) : undefined;
  if (pipelined !== undefined) childEnv[PIPELINED_VARIABLE] = pipelined;
  // More pipelined than the variable carries goes on a sealed memory file (fd 3) of a process
  // started for the session, so every command gets its answer; otherwise, as root, a mail
  // worker that waited for it serves the session (plain or TLS), with no process start.
  const oversized = leftover.length > 0 && pipelined === undefined;
  const byWorker = oversized ? undefined : await serveByWorker(input.socket, fd, account, childEnv, spec, setup.workers, io.timeoutMs);
  if (byWorker !== undefined) {
    if (byWorker.kind === "failed") {
      setup.log(`${chain.checkpasswordPrefix}: fatal: ${byWorker.detail}\n`);
      input.socket.write(err(TEXT.authTemp));
      return waitStatus(EXIT_TEMP, null);
    }
    return ended(byWorker, account, env, setup);
  }
  if (fd === undefined) {
    // TLS runs here (STLS or --tls): pop3d gets the plaintext through pipes; the key stays in serve.
    const started = startUserProcessOverTls(input.socket as tls.TLSSocket, leftover, account, env, spec);
    if (started.kind === "failed") {
      setup.log(`${chain.checkpasswordPrefix}: fatal: ${started.detail}\n`);
      input.socket.write(err(TEXT.authTemp));
      return waitStatus(EXIT_TEMP, null);
    }
    return ended(await started.exited, account, env, setup);
  }
  let extraFd: number | undefined;
  if (oversized) {
    try {
      extraFd = sealedFile("poppin-pipelined", leftover);
      childEnv[PIPELINED_FD_VARIABLE] = "3";
    } catch {
      setup.log(`${chain.popupPrefix}: warning: ${leftover.length} octets pipelined after PASS dropped rip=${logValue(env.TCPREMOTEIP ?? "unknown")} user=${logValue(account.login)}\n`);
    }
  }
  let started;
  try {
    started = startUserProcess(fd, account, childEnv, spec, extraFd);
  } finally {
    if (extraFd !== undefined) closeSync(extraFd);
  }
  if (started.kind === "failed") {
    setup.log(`${chain.checkpasswordPrefix}: fatal: ${started.detail}\n`);
    input.socket.write(err(TEXT.authTemp));
    return waitStatus(EXIT_TEMP, null);
  }
  // Our copy of the connection goes now: the user's process holds it (never end(): that sends FIN).
  input.socket.destroy();
  return ended(await started.exited, account, env, setup);
}

/** The wait status of a user process's session; one warning line when a signal ended it (its watchdog's says why). */
function ended(end: { exitCode: number | null; signalCode: string | null }, account: Account, env: NodeJS.ProcessEnv, setup: InlineSetup): number {
  if (end.signalCode !== null) {
    setup.log(`${setup.chain.pop3dPrefix}: warning: session ${killedBy(end.signalCode)} user=${logValue(account.login)} rip=${logValue(env.TCPREMOTEIP ?? "unknown")}\n`);
  }
  return waitStatus(end.exitCode, end.signalCode);
}

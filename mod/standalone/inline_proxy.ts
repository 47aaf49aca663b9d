/**
 * serve --inline for the proxy tier: `popup [OPTIONS] NAME proxy [--backend-tls] ROUTES.cdb`
 * served in serve's process. popup's AUTHORIZATION loop (mod/session's runLogin: the same policy, STLS,
 * AUTH PLAIN, failure delay) runs here; the login is the proxy's (mod/proxy: route table,
 * PROXY v2 header, the client's credentials at the backend), and a served login is
 * relayed from this process. TLS (STLS or --tls) ends here; the backend gets plain text,
 * or TLS of its own with --backend-tls.
 */
import type net from "node:net";
import { EXIT_OK } from "../base/errors.ts";
import type { PopupChannel } from "../session/login_loop.ts";
import { runLogin } from "../session/login.ts";
import { loginEnvironment } from "../sasl/login_env.ts";
import { policyEnv } from "../policy/resolve.ts";
import type { ProxyConfig } from "../proxy/config.ts";
import { proxyLogin, proxySessionLine, type ProxyLoginResult } from "../proxy/proxy_login.ts";
import { relaySession } from "../proxy/relay.ts";
import { RouteTable } from "../proxy/routes.ts";
import { acceptTls } from "../tls/handshake.ts";
import { matchApplet, parsePolicyChainHead, type PopupChain, type Resolver } from "../serve/chain_spec.ts";
import { inlinePolicy, type InlineSetup } from "./inline_session.ts";
import { closeWhenDone, discardPlainInput, LOGIN_OUTPUT_OCTETS, LOGIN_QUEUED_OUTPUT_OCTETS, SocketLines, SocketOutput, socketLoginRead } from "./socket_io.ts";

/** The proxy's part of the command line. */
export interface ProxyChain {
  proxyPrefix: string;
  /** The proxy as the chain names it (programLabel), for the failure's `exit N`. */
  proxyLabel: string;
  routesPath: string;
  backendTls: boolean;
}

/**
 * Parses `popup [OPTIONS] NAME proxy [--backend-tls] ROUTES.cdb`. Returns the chain as
 * serve --inline holds it (the login-chain fields the proxy does not have are empty)
 * with the proxy's part, or a string saying why it is not a proxy chain.
 */
export function parseProxyChain(argv: readonly string[], resolver: Resolver): { chain: PopupChain; proxy: ProxyChain } | string {
  const head = parsePolicyChainHead(argv, resolver);
  if (typeof head === "string") return head;
  const rest = head.rest;
  const proxy = matchApplet(rest, 0, "proxy", "", resolver); // no classic name: messages say "poppin proxy"
  if (typeof proxy === "string") return proxy;
  let args = rest.slice(proxy.words);
  const backendTls = args[0] === "--backend-tls";
  if (backendTls) args = args.slice(1);
  if (args.length !== 1 || args[0] === "") return "proxy must be given exactly one route table";
  const chain: PopupChain = {
    hostname: head.hostname, popupPrefix: head.popupPrefix, popupOptions: head.popupOptions,
    userdbOption: undefined, compatOption: undefined, maildir: "", pop3dArgs: [],
    checkpasswordPrefix: proxy.prefix, pop3dPrefix: proxy.prefix,
    checkpasswordLabel: proxy.label, pop3dLabel: proxy.label,
  };
  return { chain, proxy: { proxyPrefix: proxy.prefix, proxyLabel: proxy.label, routesPath: args[0]!, backendTls } };
}

let sessionSerial = 0;

/** The session runner serve --inline calls per connection; resolves to the chain's wait status. */
export function inlineProxySession(proxy: ProxyChain, config: ProxyConfig) {
  const routes = new RouteTable(proxy.routesPath);
  return async (socket: net.Socket, fd: number | undefined, env: NodeJS.ProcessEnv, setup: InlineSetup): Promise<number> => {
    const { chain, counters } = setup;
    // Half-open: a client that closes its side after its last command still gets the answers.
    (socket as { allowHalfOpen: boolean }).allowHalfOpen = true;
    const resolved = inlinePolicy(socket, fd, env, setup);
    if (typeof resolved === "number") return resolved;
    const { policy } = resolved;
    const chainEnv: NodeJS.ProcessEnv = { ...env, ...policyEnv(resolved.settings) };
    const timeout = policy.timeoutMs;
    // Plain: the login's answers go straight to the descriptor (one write(2) each, no trip through
    // the socket's write queue, whose wake-up to see it drained costs three more system calls).
    const io = { socket, input: new SocketLines(socket, timeout), out: new SocketOutput(socket, LOGIN_OUTPUT_OCTETS, timeout, fd, LOGIN_QUEUED_OUTPUT_OCTETS) };
    const channel: PopupChannel = {
      readToLineEnd: socketLoginRead(io),
      write: (bytes) => io.out.put(bytes),
      discardPending: () => discardPlainInput(io.input, io.socket === socket ? fd : undefined),
    };
    const implicitTls = (env.SSL_PROTOCOL ?? "") !== "";
    const stls = policy.certFile !== undefined && !implicitTls ? setup.stls : undefined;
    const proxySetup = { routes, config, log: setup.log, prefix: proxy.proxyPrefix };
    let served: Extract<ProxyLoginResult, { kind: "served" }> | undefined;
    let state: "authorization" | "transaction" = "authorization";
    counters.enter(state);
    try {
      const startedAt = Date.now();
      const end = await runLogin(channel, {
        policy,
        env,
        timestamp: `<${process.pid}.${++sessionSerial}.${Math.floor(Date.now() / 1000)}@${chain.hostname}>`,
        startTls: stls === undefined ? undefined : async () => {
          io.out.flush();
          io.input.detach();
          const secure = await acceptTls(io.socket, stls.holder.context, stls.handshakeTimeoutMs);
          secure.on("error", () => {});
          io.socket = secure;
          io.input = new SocketLines(secure, timeout);
          io.out = new SocketOutput(secure, LOGIN_OUTPUT_OCTETS, timeout, undefined, LOGIN_QUEUED_OUTPUT_OCTETS);
          return channel;
        },
        decoy: undefined,
        async authenticate(data, _channel, login) {
          io.out.flush();
          const result = await proxyLogin(data, loginEnvironment(chainEnv, login), proxySetup);
          if (result.kind === "served") {
            served = result;
            return { kind: "served" };
          }
          return { kind: "failed", failure: result.failure, detail: `${proxy.proxyLabel} exit ${result.failure === "rejected" ? 1 : 111}` };
        },
        warn: (text) => setup.log(`${chain.popupPrefix}: warning: ${text}\n`),
        failed(failure) {
          if (failure === "rejected") counters.loginsFailed++;
          else counters.loginsTemporaryFailure++;
        },
      });
      io.out.flush();
      if (end !== "served" || served === undefined) return EXIT_OK;
      counters.loginsOk++;
      counters.leave(state);
      state = "transaction";
      counters.enter(state);
      io.out.put(served.reply);
      await io.out.sent();
      const pending = io.input.detach();
      const client = io.socket;
      const stats = await relaySession({
        clientIn: client, clientOut: client, backend: served.socket, pending, backendPending: served.leftover,
        // The connection is closed below (closeWhenDone): at once when nothing is left to send
        // or read, so a shutdown(2) first would only cost a system call.
        idleTimeoutMs: config.idleTimeoutMs, closeClient: () => {},
        clientFd: client === socket ? fd : undefined, // after STLS the client's side is TLS
      });
      setup.log(proxySessionLine(proxy.proxyPrefix, served.who, stats, startedAt, Date.now()));
      return EXIT_OK;
    } finally {
      counters.leave(state);
      io.out.flush();
      closeWhenDone(io.socket, timeout);
    }
  };
}

/**
 * The proxy's login step, shared by its hosts (the `proxy` applet run by popup as
 * checkpassword, and `serve --inline`): from checkpassword's fd-3 data, find the user's
 * backend in the route table, log in there with the same credentials, and say how it
 * went in checkpassword's terms: served (the backend said +OK: relay from now on),
 * rejected (exit 1: wrong password or no route), temporary (exit 111: backend down,
 * slow or busy). Never a hang: every wait is bounded by the backend timeout.
 */
import { parseRequest } from "../auth/request.ts";
import { describeSysError } from "../base/errors.ts";
import { logValue } from "../base/log_value.ts";
import { clientAddressKnown } from "../base/ucspi_env.ts";
import { MECHANISM_VARIABLE } from "../sasl/login_env.ts";
import { encodeProxyV2, type ProxiedAddresses } from "../serve/proxy_protocol.ts";
import { connectionEnds } from "../sys/socket_name.ts";
import { loginAtBackend, type LoginMechanism } from "./backend_login.ts";
import type { BackendConnection } from "./backend_socket.ts";
import type { ProxyConfig } from "./config.ts";
import type { RelayStats } from "./relay.ts";
import { formatBackend, type Backend, type RouteTable } from "./routes.ts";


export interface ProxySetup {
  routes: RouteTable;
  config: ProxyConfig;
  /** Writes one finished log line. */
  log(line: string): void;
  prefix: string;
  /**
   * Where the client's addresses come from when the environment has none (no TCPREMOTEIP:
   * started by inetd or systemd's socket activation rather than serve): the connection
   * itself, or null when there is no TCP connection to ask (then the backend gets PROXY v2
   * LOCAL and takes the connection's own addresses).
   */
  connectionAddresses?: () => ProxiedAddresses | null;
}

export type ProxyLoginResult =
  | { kind: "served"; socket: BackendConnection; reply: Uint8Array; leftover: Uint8Array; who: string; backend: Backend }
  | { kind: "failed"; failure: "rejected" | "temporary"; detail: string };

/** The client's and our addresses from the UCSPI environment; null when they are not there (an empty value is none: mod/base/ucspi_env.ts). */
export function clientAddresses(env: NodeJS.ProcessEnv): ProxiedAddresses | null {
  if (!clientAddressKnown(env)) return null;
  const { TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT } = env;
  if (TCPREMOTEIP === undefined || TCPLOCALIP === undefined || TCPREMOTEPORT === undefined || TCPLOCALPORT === undefined) return null;
  const sourcePort = Number(TCPREMOTEPORT);
  const destinationPort = Number(TCPLOCALPORT);
  if (!Number.isInteger(sourcePort) || !Number.isInteger(destinationPort)) return null;
  return { sourceIp: TCPREMOTEIP, sourcePort, destinationIp: TCPLOCALIP, destinationPort };
}

/** The client's and our end of the connection on `fd` as the PROXY header carries them; null when it is no TCP connection. */
export function socketAddresses(fd: number): ProxiedAddresses | null {
  const ends = connectionEnds(fd);
  if (ends === null) return null;
  return { sourceIp: ends.remote.ip, sourcePort: ends.remote.port, destinationIp: ends.local.ip, destinationPort: ends.local.port };
}

/** How the client logged in (popup's POPPIN_AUTH_MECH; unset from a foreign popup: USER/PASS). */
function mechanismOf(env: NodeJS.ProcessEnv): LoginMechanism | "apop" | "other" {
  const value = (env[MECHANISM_VARIABLE] ?? "").toUpperCase();
  if (value === "" || value === "USER") return "user";
  // A LOGIN login carries the password as PLAIN does: repeated at the backend as AUTH PLAIN.
  return value === "PLAIN" || value === "LOGIN" ? "plain" : value === "APOP" ? "apop" : "other";
}

/** Logs in at the user's backend; `data` is checkpassword's fd-3 data (wiped by the caller). */
export async function proxyLogin(data: Uint8Array, env: NodeJS.ProcessEnv, setup: ProxySetup): Promise<ProxyLoginResult> {
  const request = parseRequest(data);
  const addresses = clientAddresses(env) ?? (clientAddressKnown(env) ? null : setup.connectionAddresses?.() ?? null);
  const rip = logValue(addresses?.sourceIp ?? env.TCPREMOTEIP ?? "unknown");
  const user = logValue(request.login);
  const warn = (text: string) => setup.log(`${setup.prefix}: warning: ${text}\n`);
  const mechanism = mechanismOf(env);
  if (mechanism === "apop") {
    warn(`APOP logins cannot be relayed (the backend has its own timestamp): turn APOP off on the proxy user=${user} rip=${rip}`);
    return { kind: "failed", failure: "temporary", detail: "APOP through the proxy" };
  }
  if (mechanism === "other") {
    // SCRAM and bearer tokens carry no password the backend could check again.
    warn(`${logValue(env[MECHANISM_VARIABLE] ?? "")} logins cannot be relayed (no password to repeat at the backend) user=${user} rip=${rip}`);
    return { kind: "failed", failure: "temporary", detail: "mechanism not relayed" };
  }
  let route;
  try {
    route = setup.routes.find(request.login);
  } catch (err) {
    setup.log(`${setup.prefix}: fatal: unable to read ${setup.routes.path}: ${describeSysError(err)} user=${user} rip=${rip}\n`);
    return { kind: "failed", failure: "temporary", detail: "route table unreadable" };
  }
  if (route === undefined) {
    warn(`no route user=${user} rip=${rip}`);
    return { kind: "failed", failure: "rejected", detail: "no route" };
  }
  const backend = formatBackend(route.backend);
  const who = `user=${user} rip=${rip} backend=${logValue(backend)}`;
  const result = await loginAtBackend({
    backend: route.backend,
    header: encodeProxyV2(addresses),
    user: request.login,
    password: request.password,
    mechanism,
    timeoutMs: setup.config.backendTimeoutMs,
    tls: setup.config.backendTls,
  });
  if (result.kind === "ok") return { kind: "served", socket: result.socket, reply: result.reply, leftover: result.leftover, who, backend: route.backend };
  if (result.kind === "refused") {
    let end = result.reply.length;
    while (end > 0 && (result.reply[end - 1] === 0x0a || result.reply[end - 1] === 0x0d)) end--;
    const reply = logValue(result.reply.subarray(0, end)); // the backend's own octets, escaped
    warn(`backend refused the login ${who} reply=${reply}`);
    return { kind: "failed", failure: result.temporary ? "temporary" : "rejected", detail: "backend -ERR" };
  }
  // A backend's answer is in `detail` as latin1 text: logged as the octets it sent.
  warn(`backend unavailable ${who} why=${logValue(Buffer.from(result.detail, "latin1"))}`);
  return { kind: "failed", failure: "temporary", detail: result.detail };
}

/** The one line for a relayed session. */
export function proxySessionLine(prefix: string, who: string, stats: RelayStats, startedAt: number, now: number): string {
  const seconds = ((now - startedAt) / 1000).toFixed(3);
  return `${prefix}: info: end=${stats.end} ${who} from_client=${stats.fromClient} to_client=${stats.toClient} seconds=${seconds}\n`;
}

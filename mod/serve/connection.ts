/**
 * What serve learns about one accepted connection before it runs the program, in
 * tcpserver's order: the endpoints (or, with --proxy, the ones in the PROXY header), the
 * banner, the host names and ident answer, then the rules verdict.
 */
import type net from "node:net";
import { writeAll } from "../base/io.ts";
import { describeSysError } from "../base/errors.ts";
import { rulesLookup, type RulesVerdict } from "../rules/lookup.ts";
import { killIpOptions, setTcpNoDelay } from "../sys/fd.ts";
import { connectionEnds } from "../sys/socket_name.ts";
import { addressMatches } from "./address.ts";
import { childEnvironment, type ConnectionFacts } from "./environment.ts";
import { identLookup } from "./ident.ts";
import type { ServeOptions } from "./options.ts";
import { readProxyHeader } from "./proxy_read.ts";
import type { NameLookups } from "./remote_host.ts";

/** The rule variable that marks a peer as a trusted PROXY sender (with --proxy and -x). */
export const PROXY_TRUST_VARIABLE = "PROXY_TRUSTED";

export interface Endpoints {
  fd: number;
  ipv6Socket: boolean;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

export type Outcome =
  | { kind: "run"; facts: ConnectionFacts; env: Record<string, string> }
  | { kind: "deny"; facts: ConnectionFacts }
  /** `reason` follows "dropping connection, " in the warning. */
  | { kind: "drop"; reason: string };

/**
 * The socket's endpoints, IPv4-mapped addresses shown as IPv4; undefined if the socket is
 * already gone. One getpeername and one getsockname (node:net's address getters ask the
 * kernel again on every read: six system calls per connection).
 */
export function socketEndpoints(sock: net.Socket): Endpoints | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return undefined;
  const ends = connectionEnds(fd);
  if (ends === null) return undefined;
  return {
    fd,
    ipv6Socket: ends.ipv6Socket,
    localIp: ends.local.ip,
    localPort: ends.local.port,
    remoteIp: ends.remote.ip,
    remotePort: ends.remote.port,
  };
}

function proxyTrusted(o: ServeOptions, peerIp: string): boolean {
  if (o.proxyFrom.some((entry) => addressMatches(peerIp, entry))) return true;
  if (o.rulesPath === undefined) return false;
  try {
    const verdict = rulesLookup(o.rulesPath, { ip: peerIp });
    return verdict.env.some((e) => e.name === PROXY_TRUST_VARIABLE && e.value !== null && e.value !== "");
  } catch {
    return false;
  }
}

/** With --proxy: the endpoints from the header (the peer must be trusted); a string says why the connection is dropped. */
export async function proxiedEndpoints(o: ServeOptions, peer: Endpoints, sock: net.Socket): Promise<Endpoints | string> {
  if (!proxyTrusted(o, peer.remoteIp)) return `PROXY header not accepted from ${peer.remoteIp}`;
  const header = await readProxyHeader(peer.fd, undefined, () => !sock.destroyed);
  if (!header.ok) return `bad PROXY header from ${peer.remoteIp}: ${header.reason}`;
  if (header.addresses === null) return peer;
  const a = header.addresses;
  return { ...peer, remoteIp: a.sourceIp, remotePort: a.sourcePort, localIp: a.destinationIp, localPort: a.destinationPort };
}

/**
 * A connection just accepted: its endpoints, with the socket options tcpserver sets on every
 * connection (-O kills IP options, -D sets TCP_NODELAY). A socket already gone is destroyed
 * and gives undefined.
 */
export function acceptedEndpoints(o: ServeOptions, sock: net.Socket): Endpoints | undefined {
  const peer = socketEndpoints(sock);
  if (peer === undefined) {
    sock.destroy();
    return undefined;
  }
  if (o.killIpOptions) killIpOptions(peer.fd);
  // Bun sets TCP_NODELAY on every socket; tcpserver leaves Nagle on unless -D.
  setTcpNoDelay(peer.fd, !o.delay);
  return peer;
}

function readRules(o: ServeOptions, facts: ConnectionFacts): RulesVerdict | string {
  if (o.rulesPath === undefined) return { allow: true, env: [], matchedKey: null };
  try {
    return rulesLookup(o.rulesPath, { ip: facts.remoteIp, host: facts.remoteHost, info: facts.remoteInfo });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" && o.allowMissingRules) return { allow: true, env: [], matchedKey: null };
    const message = (err as Error).message ?? String(err);
    return message.startsWith("unable to read ") ? message : `unable to read ${o.rulesPath}: ${message}`;
  }
}

/** Banner, names, ident, rules: the child's environment, or why there is no child. */
export async function describeConnection(
  o: ServeOptions,
  ends: Endpoints,
  baseEnv: Readonly<Record<string, string | undefined>>,
  names: NameLookups,
): Promise<Outcome> {
  if (o.banner !== "") {
    try {
      writeAll(ends.fd, o.banner);
    } catch (err) {
      return { kind: "drop", reason: `unable to print banner: ${describeSysError(err)}` };
    }
  }
  const [localHost, remoteHost, remoteInfo] = await Promise.all([
    o.localName !== undefined ? Promise.resolve(o.localName) : names.hostName(ends.localIp),
    o.remoteHost ? names.remoteHostName(ends.remoteIp, o.paranoid) : Promise.resolve(undefined),
    o.remoteInfo
      ? identLookup({ localIp: ends.localIp, localPort: ends.localPort, remoteIp: ends.remoteIp, remotePort: ends.remotePort, timeoutSeconds: o.timeout })
      : Promise.resolve(undefined),
  ]);
  const facts: ConnectionFacts = {
    ipv6Socket: ends.ipv6Socket,
    localIp: ends.localIp,
    localPort: ends.localPort,
    localHost,
    remoteIp: ends.remoteIp,
    remotePort: ends.remotePort,
    remoteHost,
    remoteInfo,
  };
  const verdict = readRules(o, facts);
  if (typeof verdict === "string") return { kind: "drop", reason: verdict };
  if (!verdict.allow) return { kind: "deny", facts };
  return { kind: "run", facts, env: childEnvironment(baseEnv, facts, verdict.env) };
}

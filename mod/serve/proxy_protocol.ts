/**
 * HAProxy's PROXY protocol, versions 1 and 2 (haproxy doc/proxy-protocol.txt), sans I/O:
 * the caller reads exactly the number of bytes asked for (so not one byte of the client's
 * own data is taken from the socket) and feeds everything read so far.
 */
import { nodeNet } from "../sys/builtins.ts";
import { parseIp4, parseIp6 } from "../rules/ip6.ts";
import { canonicalIp6, formatIp6, unmapIp } from "./address.ts";

/** v1: "a 108-byte buffer is always enough to store all the line and a trailing zero". */
export const PROXY_V1_MAX = 107;
/** v2: the spec allows 16 + 65535 bytes; serve refuses TLV blocks beyond this (HAProxy's own limit is similar). */
export const PROXY_V2_MAX = 16 + 2048;
/** How long a peer may take to send the header; HAProxy sends it at once. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;
/**
 * With --proxy the peer speaks first (the header), so the listening socket defers accepting
 * until data arrives (TCP_DEFER_ACCEPT, as nginx's `deferred` and HAProxy's `defer-accept`):
 * the connection and its header then come in one wake-up, and the header is there to read at
 * once. A peer that sends nothing is handed over about this long after its handshake, and
 * PROXY_HEADER_TIMEOUT_MS counts from then.
 */
export const PROXY_DEFER_ACCEPT_SECONDS = 1;

const V1_PREFIX = new TextEncoder().encode("PROXY ");
const V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** The endpoints the balancer saw; null when the header says to use the connection's own (v1 UNKNOWN, v2 LOCAL/UNSPEC). */
export interface ProxiedAddresses {
  sourceIp: string;
  sourcePort: number;
  destinationIp: string;
  destinationPort: number;
}

export type ProxyParse =
  | { kind: "need"; bytes: number }
  | { kind: "done"; length: number; addresses: ProxiedAddresses | null }
  | { kind: "invalid"; reason: string };

function startsWith(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function port(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV1(line: string): ProxyParse {
  // line has "PROXY " stripped and no CRLF.
  const fields = line.split(" ");
  if (fields[0] === "UNKNOWN") return { kind: "done", length: line.length + 8, addresses: null };
  if (fields.length !== 5) return { kind: "invalid", reason: "malformed v1 header" };
  const [proto, src, dst, sport, dport] = fields;
  const family = proto === "TCP4" ? 4 : proto === "TCP6" ? 6 : 0;
  if (family === 0) return { kind: "invalid", reason: "unknown v1 protocol" };
  if (nodeNet().isIP(src) !== family || nodeNet().isIP(dst) !== family) return { kind: "invalid", reason: "bad v1 address" };
  const sourcePort = port(sport);
  const destinationPort = port(dport);
  if (sourcePort === undefined || destinationPort === undefined) return { kind: "invalid", reason: "bad v1 port" };
  const canon = (ip: string) => (family === 6 ? unmapIp(canonicalIp6(ip) ?? ip) : ip);
  return { kind: "done", length: line.length + 8, addresses: { sourceIp: canon(src), sourcePort, destinationIp: canon(dst), destinationPort } };
}

function parseV2(buf: Uint8Array): ProxyParse {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const versionCommand = buf[12];
  if (versionCommand >> 4 !== 2) return { kind: "invalid", reason: "unknown v2 version" };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: "invalid", reason: "unknown v2 command" };
  const length = 16 + view.getUint16(14);
  if (length > PROXY_V2_MAX) return { kind: "invalid", reason: "v2 header too long" };
  if (buf.length < length) return { kind: "need", bytes: length - buf.length };
  if (command === 0) return { kind: "done", length, addresses: null }; // LOCAL: health check from the balancer itself
  const family = buf[13];
  if (family === 0x00) return { kind: "done", length, addresses: null };
  if (family === 0x11) {
    if (length < 16 + 12) return { kind: "invalid", reason: "v2 address block too short" };
    const ip = (at: number) => `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
    return { kind: "done", length, addresses: { sourceIp: ip(16), destinationIp: ip(20), sourcePort: view.getUint16(24), destinationPort: view.getUint16(26) } };
  }
  if (family === 0x21) {
    if (length < 16 + 36) return { kind: "invalid", reason: "v2 address block too short" };
    const ip = (at: number) => unmapIp(formatIp6(buf.subarray(at, at + 16)));
    return { kind: "done", length, addresses: { sourceIp: ip(16), destinationIp: ip(32), sourcePort: view.getUint16(48), destinationPort: view.getUint16(50) } };
  }
  return { kind: "invalid", reason: "v2 family is not TCP over IPv4 or IPv6" };
}

/** Looks at the bytes read so far (all of them, from the connection's first byte). */
export function parseProxyHeader(buf: Uint8Array): ProxyParse {
  if (buf.length < V1_PREFIX.length) {
    if (!startsWith(buf, V1_PREFIX) && !startsWith(buf, V2_SIGNATURE)) return { kind: "invalid", reason: "no PROXY header" };
    return { kind: "need", bytes: V1_PREFIX.length - buf.length };
  }
  if (startsWith(buf, V1_PREFIX)) {
    const end = buf.indexOf(0x0a);
    if (end < 0) {
      if (buf.length >= PROXY_V1_MAX) return { kind: "invalid", reason: "v1 header too long" };
      return { kind: "need", bytes: 1 };
    }
    if (end !== buf.length - 1 || buf[end - 1] !== 0x0d) return { kind: "invalid", reason: "v1 header not ended by CRLF" };
    for (let i = 0; i < end - 1; i++) if (buf[i] < 0x20 || buf[i] > 0x7e) return { kind: "invalid", reason: "v1 header not printable" };
    return parseV1(new TextDecoder().decode(buf.subarray(V1_PREFIX.length, end - 1)));
  }
  if (!startsWith(buf, V2_SIGNATURE)) return { kind: "invalid", reason: "no PROXY header" };
  if (buf.length < 16) return { kind: "need", bytes: 16 - buf.length };
  return parseV2(buf);
}

/** 16 bytes of an IPv6 address, an IPv4 one mapped (::ffff:a.b.c.d); null when neither. */
function ip16(ip: string): Uint8Array | null {
  const v4 = parseIp4(ip);
  if (v4 === null) return parseIp6(ip);
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/**
 * A v2 header as HAProxy's send-proxy-v2 writes it: PROXY over TCP/IPv4 when both
 * addresses are IPv4, else TCP/IPv6 (an IPv4 address mapped); LOCAL (the receiver uses
 * the connection's own addresses) when `addresses` is null or cannot be encoded.
 */
export function encodeProxyV2(addresses: ProxiedAddresses | null): Uint8Array {
  const src4 = addresses === null ? null : parseIp4(addresses.sourceIp);
  const dst4 = addresses === null ? null : parseIp4(addresses.destinationIp);
  const both4 = src4 !== null && dst4 !== null;
  const src = both4 ? src4 : addresses === null ? null : ip16(addresses.sourceIp);
  const dst = both4 ? dst4 : addresses === null ? null : ip16(addresses.destinationIp);
  if (addresses === null || src === null || dst === null) {
    const local = new Uint8Array(16);
    local.set(V2_SIGNATURE, 0);
    local[12] = 0x20; // version 2, LOCAL
    return local;
  }
  const blockLength = 2 * src.length + 4;
  const out = new Uint8Array(16 + blockLength);
  const view = new DataView(out.buffer);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = both4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  view.setUint16(14, blockLength);
  out.set(src, 16);
  out.set(dst, 16 + src.length);
  view.setUint16(16 + 2 * src.length, addresses.sourcePort);
  view.setUint16(18 + 2 * src.length, addresses.destinationPort);
  return out;
}

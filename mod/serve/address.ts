/**
 * Addresses as serve handles them: HOST for bind (tcpserver's "0" and "" mean 0.0.0.0),
 * IPv4-mapped IPv6 client addresses shown as plain IPv4 (as ucspi-tcp-ipv6 does, so rules
 * written for IPv4 keep matching on a dual-stack socket), and address-prefix matching for
 * --proxy-from.
 */
import { nodeDns, nodeNet } from "../sys/builtins.ts";
import { TempError } from "../base/errors.ts";

export interface BindAddress {
  address: string;
  family: 4 | 6;
}

/**
 * djbdns's dns_ip4 (in ucspi-tcp) for a HOST made only of digits, dots and brackets: no
 * lookup; each dot-separated field is one byte (its value mod 256), brackets are skipped, and
 * only whole groups of four bytes count. So "[127.0.0.1]" and "127.0.0.1." are 127.0.0.1,
 * while "127.1" or "2130706433" are no address at all (the C library would read 127.0.0.1).
 * Undefined: HOST is a name (or IPv6) and goes to the resolver.
 */
export function djbNumericIp4(host: string): string[] | undefined {
  if (!/^[0-9.[\]]*$/.test(host)) return undefined;
  const bytes: number[] = [];
  let code = 0;
  for (const ch of `${host}.`) {
    if (ch === "[" || ch === "]") continue;
    if (ch === ".") {
      bytes.push(code);
      code = 0;
    } else code = (code * 10 + ch.charCodeAt(0) - 48) & 0xff;
  }
  const addresses: string[] = [];
  for (let i = 0; i + 4 <= bytes.length; i += 4) addresses.push(bytes.slice(i, i + 4).join("."));
  return addresses;
}

/** Resolves tcpserver's HOST argument; throws TempError with tcpserver's wording. */
export async function resolveBindHost(host: string): Promise<BindAddress> {
  if (host === "" || host === "0") return { address: "0.0.0.0", family: 4 };
  const numeric = djbNumericIp4(host);
  if (numeric !== undefined) {
    if (numeric.length === 0) throw new TempError(`no IP address for ${host}`);
    return { address: numeric[0], family: 4 };
  }
  if (nodeNet().isIP(host) === 6) return { address: host, family: 6 };
  let found: { address: string; family: number }[];
  try {
    found = await nodeDns().lookup(host, { all: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") throw new TempError(`no IP address for ${host}`);
    throw new TempError(`temporarily unable to figure out IP address for ${host}: ${code ?? (err as Error).message}`);
  }
  // tcpserver 0.88 binds the first IPv4 address; an IPv6-only name gets its first IPv6 address.
  const v4 = found.find((a) => a.family === 4);
  if (v4) return { address: v4.address, family: 4 };
  const v6 = found.find((a) => a.family === 6);
  if (v6) return { address: v6.address, family: 6 };
  throw new TempError(`no IP address for ${host}`);
}

/** "::ffff:192.0.2.7" -> "192.0.2.7"; other addresses unchanged. */
export function unmapIp(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:") && nodeNet().isIP(address.slice(7)) === 4) return address.slice(7);
  return address;
}

function ipv4Number(address: string): number {
  return address.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

export function ipv6Bits(address: string): bigint | undefined {
  if (nodeNet().isIP(address) !== 6) return undefined;
  const [headText, tailText] = address.includes("::") ? address.split("::") : [address, undefined];
  const parse = (part: string | undefined): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const n = ipv4Number(piece);
        out.push(n >>> 16, n & 0xffff);
      } else out.push(parseInt(piece, 16));
    }
    return out;
  };
  const head = parse(headText);
  const tail = parse(tailText);
  const groups = tailText === undefined ? head : [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  return groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

/**
 * Whether `ip` matches one --proxy-from entry: an exact address, a tcprules-style prefix
 * ("10.0." or "10.0.0."), or CIDR ("10.0.0.0/8", "2001:db8::/32").
 */
export function addressMatches(ip: string, entry: string): boolean {
  const slash = entry.indexOf("/");
  if (slash < 0) {
    if (ip === entry) return true;
    return (entry.endsWith(".") || entry.endsWith(":")) && ip.startsWith(entry);
  }
  const net = entry.slice(0, slash);
  const bits = Number(entry.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0) return false;
  if (nodeNet().isIP(net) === 4 && nodeNet().isIP(ip) === 4) {
    if (bits > 32) return false;
    if (bits === 0) return true;
    const mask = (0xffffffff << (32 - bits)) >>> 0;
    return ((ipv4Number(ip) & mask) >>> 0) === ((ipv4Number(net) & mask) >>> 0);
  }
  const a = ipv6Bits(ip);
  const b = ipv6Bits(net);
  if (a === undefined || b === undefined || bits > 128) return false;
  const shift = BigInt(128 - bits);
  return a >> shift === b >> shift;
}

/** RFC 5952 text of 16 address bytes (IPv4-mapped as "::ffff:a.b.c.d", which unmapIp turns into IPv4). */
export function formatIp6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** The canonical text of an IPv6 address given as text, or undefined if it is not one. */
export function canonicalIp6(text: string): string | undefined {
  const bits = ipv6Bits(text);
  if (bits === undefined) return undefined;
  const bytes = new Uint8Array(16);
  for (let i = 15, n = bits; i >= 0; i--, n >>= 8n) bytes[i] = Number(n & 0xffn);
  return formatIp6(bytes);
}

import { formatIp6, isV4Mapped, parseIp4, parseIp6 } from "./ip6.ts";

/** Why an address cannot be compiled; the caller reports it with tcprules' "unable to parse this line". */
export class AddressError extends Error {}

const decoder = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** At most this many keys for one CIDR line (an IPv4 /1 gives 128; IPv6 the same bound). */
export const MAX_CIDR_KEYS = 256;

/**
 * The cdb keys one rule address stands for, in the order tcprules adds them:
 *  - tcprules 0.88 forms: "1.2.3.4", "1.2.3.", "=host", "=.domain", "user@addr", "" (default),
 *    and the range "1.2.3.4-7" (one key per number, the number capped at 255), all byte for byte;
 *  - extension: IPv4 CIDR "10.0.0.0/8", as the octet-prefix keys tcpserver looks up
 *    ("10."; a /12 gives "10.0." ... "10.15.");
 *  - extension: IPv6 (ucspi-tcp-ipv6 keys): a full address is written in ip6_fmt's form
 *    (tcpserver's TCPREMOTEIP; "::ffff:a.b.c.d" as "a.b.c.d"); a prefix such as "2001:db8:"
 *    stays as written; "2001:db8::/32" CIDR becomes such prefixes where they exist.
 */
export function ruleKeys(address: Uint8Array): Uint8Array[] {
  const hasEquals = address.includes(0x3d);
  const at = address.indexOf(0x40);
  if (!hasEquals && at < 0) {
    const text = decoder.decode(address);
    const cidr = /^([0-9a-fA-F:.]+)\/([0-9]{1,3})$/.exec(text);
    if (cidr) return cidrKeys(cidr[1], Number(cidr[2])).map((k) => encoder.encode(k));
    if (address.includes(0x2d)) return rangeKeys(address);
    return [normalizeIp6(address)];
  }
  if (!hasEquals && at >= 0) {
    // user@addr: normalize a full IPv6 address after the '@' as tcpserver formats it.
    return [concat(address.subarray(0, at + 1), normalizeIp6(address.subarray(at + 1)))];
  }
  return [address];
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function normalizeIp6(address: Uint8Array): Uint8Array {
  if (!address.includes(0x3a)) return address;
  const ip = parseIp6(decoder.decode(address));
  if (!ip) return address;
  if (isV4Mapped(ip)) return encoder.encode(`${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`);
  return encoder.encode(formatIp6(ip));
}

/** djb's scan_ulong: leading decimal digits, wrapping at 2^64 as an unsigned long does. */
function scanUlong(bytes: Uint8Array): { value: bigint; all: boolean } {
  let value = 0n;
  let i = 0;
  while (i < bytes.length && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
    value = (value * 10n + BigInt(bytes[i] - 0x30)) & 0xffffffffffffffffn;
    i++;
  }
  return { value, all: i === bytes.length };
}

/** tcprules' doaddressdata for "a.b.c.X-Y[.rest]": the number before '-' (after the last '.') up to the one after. */
function rangeKeys(address: Uint8Array): Uint8Array[] {
  const dash = address.indexOf(0x2d);
  const lastDot = address.subarray(0, dash).lastIndexOf(0x2e);
  const left = lastDot < 0 ? 0 : lastDot + 1;
  const afterDash = dash + 1;
  const nextDot = address.indexOf(0x2e, afterDash);
  const right = nextDot < 0 ? address.length : nextDot;
  const bottom = scanUlong(address.subarray(left, dash));
  const top = scanUlong(address.subarray(afterDash, right));
  if (!bottom.all || !top.all) throw new AddressError("a range needs numbers on both sides of -");
  const last = top.value > 255n ? 255n : top.value;
  const keys: Uint8Array[] = [];
  const prefix = address.subarray(0, left);
  const suffix = address.subarray(right);
  for (let n = bottom.value; n <= last; n++) {
    keys.push(concat(concat(prefix, encoder.encode(n.toString())), suffix));
  }
  return keys;
}

function cidrKeys(base: string, bits: number): string[] {
  const v4 = parseIp4(base);
  if (v4) return ip4CidrKeys(v4, bits);
  const v6 = base.includes(":") ? parseIp6(base) : null;
  if (v6) return ip6CidrKeys(v6, bits);
  throw new AddressError(`${base} is not an IPv4 or IPv6 address`);
}

function hostBitsSet(ip: Uint8Array, bits: number): boolean {
  for (let bit = bits; bit < ip.length * 8; bit++) if (ip[bit >> 3] & (0x80 >> (bit & 7))) return true;
  return false;
}

/** All prefixes of `unit`-bit granularity covering ip/bits: their first `aligned` bits vary over the gap. */
function alignedPrefixes(ip: Uint8Array, bits: number, unit: number): { aligned: number; values: Uint8Array[] } {
  const aligned = Math.ceil(bits / unit) * unit;
  const count = 2 ** (aligned - bits);
  if (count > MAX_CIDR_KEYS) throw new AddressError(`/${bits} would need ${count} keys (at most ${MAX_CIDR_KEYS})`);
  const values: Uint8Array[] = [];
  for (let n = 0; n < count; n++) {
    const copy = ip.slice();
    for (let b = 0; b < aligned - bits; b++) {
      const bit = aligned - 1 - b;
      if (n & (1 << b)) copy[bit >> 3] |= 0x80 >> (bit & 7);
    }
    values.push(copy);
  }
  return { aligned, values };
}

function ip4CidrKeys(ip: Uint8Array, bits: number): string[] {
  if (bits > 32) throw new AddressError(`/${bits} is longer than 32 bits`);
  if (hostBitsSet(ip, bits)) throw new AddressError("address has bits set beyond the prefix length");
  const { aligned, values } = alignedPrefixes(ip, bits, 8);
  return values.map((v) => {
    const octets = Array.from(v.subarray(0, aligned / 8));
    return aligned === 32 ? octets.join(".") : octets.map((o) => `${o}.`).join("");
  });
}

function ip6CidrKeys(ip: Uint8Array, bits: number): string[] {
  if (bits > 128) throw new AddressError(`/${bits} is longer than 128 bits`);
  if (hostBitsSet(ip, bits)) throw new AddressError("address has bits set beyond the prefix length");
  const { aligned, values } = alignedPrefixes(ip, bits, 16);
  return values.map((v) => ip6PrefixKey(v, aligned / 16));
}

/**
 * The key ucspi-tcp-ipv6's tcpserver would try for every address whose first `groups`
 * 16-bit groups are those of `ip`: their ip6_fmt text truncated after a ':'. It exists
 * unless the prefix ends inside a run of two or more zero groups that is the address's
 * first (ip6_fmt's "::" could then stand for a longer run).
 */
function ip6PrefixKey(ip: Uint8Array, groups: number): string {
  if (groups === 8) return formatIp6(ip);
  if (groups === 0) return "";
  const g = Array.from({ length: groups }, (_, i) => (ip[2 * i] << 8) | ip[2 * i + 1]);
  const zero = g.indexOf(0);
  if (zero < 0) return g.map((x) => `${x.toString(16)}:`).join("");
  let runEnd = zero;
  while (runEnd < groups && g[runEnd] === 0) runEnd++;
  if (runEnd === groups && runEnd - zero >= 2) {
    throw new AddressError("this IPv6 prefix ends in a run of zero groups that tcpserver's address text cannot tell apart");
  }
  const head = g.slice(0, zero).map((x) => x.toString(16)).join(":");
  const tail = g.slice(runEnd).map((x) => `${x.toString(16)}:`).join("");
  return `${head}::${tail}`;
}

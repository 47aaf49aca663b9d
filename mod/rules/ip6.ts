/**
 * IPv6 text forms as ucspi-tcp-ipv6 (fefe's patch of ucspi-tcp 0.88) produces them, so rule
 * keys and lookups agree with its tcpserver and tcprules.
 */

/** Parses an IPv6 address (with optional embedded dotted IPv4 tail) into 16 bytes, or null. */
export function parseIp6(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIp4(piece);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return null;
      out.push(parseInt(piece, 16));
    }
    return out;
  };
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => { bytes[2 * i] = g >> 8; bytes[2 * i + 1] = g & 0xff; });
  return bytes;
}

/** Parses a dotted-quad IPv4 address (four decimal octets), or null. */
export function parseIp4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^[0-9]{1,3}$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export function isV4Mapped(ip: Uint8Array): boolean {
  return V4_MAPPED_PREFIX.every((b, i) => ip[i] === b);
}

/**
 * ucspi-tcp-ipv6's ip6_fmt: lower-case hex groups, the FIRST run of zero groups (even a
 * single one) compressed to "::" (not RFC 5952's longest run), v4-mapped tails dotted.
 */
export function formatIp6(ip: Uint8Array): string {
  let out = "";
  let compressing = false;
  let compressed = false;
  for (let j = 0; j < 16; j += 2) {
    if (j === 12 && isV4Mapped(ip)) {
      out += `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
      break;
    }
    const group = (ip[j] << 8) | ip[j + 1];
    if (group === 0 && !compressed) {
      if (!compressing) {
        compressing = true;
        if (j === 0) out += ":";
      }
    } else {
      if (compressing) {
        compressing = false;
        compressed = true;
        out += ":";
      }
      out += group.toString(16);
      if (j < 14) out += ":";
    }
  }
  if (compressing) out += ":";
  return out;
}

/**
 * The remote address as tcpserver puts it in TCPREMOTEIP and looks it up: IPv4 stays
 * dotted; an IPv4-mapped IPv6 address becomes plain IPv4 (as ucspi-tcp-ipv6 does);
 * other IPv6 addresses take ip6_fmt's form. Anything unparsable is returned unchanged.
 */
export function canonicalRemoteIp(ip: string): string {
  if (!ip.includes(":")) return ip;
  const bytes = parseIp6(ip);
  if (!bytes) return ip;
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  return formatIp6(bytes);
}

/** Bits of an IPv6 address that name one client (RFC 4291: a /64 is one link, one household or server). */
export const IPV6_CLIENT_PREFIX_BITS = 64;

/**
 * What a client is counted by (failed logins, connections at once): an IPv4 address, or the
 * /64 of an IPv6 one ("2001:db8:1:2::/64"). A host is given a whole /64 and may take any address
 * in it, a new one for every connection, so counting single IPv6 addresses counts nothing.
 */
export function clientKey(ip: string): string {
  const v6 = ip.includes(":") ? parseIp6(ip) : null;
  if (v6 === null) return ip;
  if (isV4Mapped(v6)) return `${v6[12]}.${v6[13]}.${v6[14]}.${v6[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < IPV6_CLIENT_PREFIX_BITS / 8; i += 2) groups.push(((v6[i]! << 8) | v6[i + 1]!).toString(16));
  return `${groups.join(":")}::/${IPV6_CLIENT_PREFIX_BITS}`;
}

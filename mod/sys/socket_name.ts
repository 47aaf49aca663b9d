/**
 * The addresses of a connected socket given as a descriptor (getpeername and getsockname
 * through bun:ffi): what a program started by inetd or systemd's socket activation (stdin
 * the connection, no TCPREMOTEIP) learns about its client, as tcpserver would have told it.
 */
import { libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  getpeername: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
}).symbols;

const AF_INET = 2;
const AF_INET6 = 10;
/** sizeof(struct sockaddr_storage). */
const SOCKADDR_STORAGE = 128;

export interface SocketEnd {
  ip: string;
  port: number;
}

function ipv6Text(bytes: Uint8Array): string {
  // An IPv4 client of an IPv6 socket (::ffff:a.b.c.d) is that IPv4 address, as ucspi-tcp6 says it.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The longest run of two or more zero groups is written "::" (RFC 5952 section 4.2).
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestAt < 0) return groups.join(":");
  return `${groups.slice(0, bestAt).join(":")}::${groups.slice(bestAt + bestLength).join(":")}`;
}

/** An IPv4 or IPv6 socket address from a struct sockaddr; null for any other family. */
export function parseSockaddr(raw: Uint8Array, length: number): SocketEnd | null {
  if (length < 2) return null;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const family = view.getUint16(0, true); // sa_family_t in host order (little-endian on the targets built)
  const port = view.getUint16(2, false); // network order
  if (family === AF_INET && length >= 8) return { ip: `${raw[4]}.${raw[5]}.${raw[6]}.${raw[7]}`, port };
  if (family === AF_INET6 && length >= 24) return { ip: ipv6Text(raw.subarray(8, 24)), port };
  return null;
}

function socketEnd(call: "getpeername" | "getsockname", fd: number): (SocketEnd & { ipv6Family: boolean }) | null {
  const raw = new Uint8Array(SOCKADDR_STORAGE);
  const length = new Uint32Array([SOCKADDR_STORAGE]);
  if (libc()[call](fd, raw, length) !== 0) return null; // ENOTSOCK (a pipe, a file), ENOTCONN, EBADF
  const end = parseSockaddr(raw, length[0]!);
  return end === null ? null : { ...end, ipv6Family: (raw[0]! | (raw[1]! << 8)) === AF_INET6 };
}

/**
 * The client's and our end of the TCP connection on `fd`; null when `fd` is not a
 * connected IPv4 or IPv6 socket (a pipe, a terminal, a Unix socket). `ipv6Socket`: the
 * socket is an IPv6 one (even when its client is IPv4, shown as a.b.c.d), as tcpserver's
 * listening socket decides which variables it sets.
 */
export function connectionEnds(fd: number): { remote: SocketEnd; local: SocketEnd; ipv6Socket: boolean } | null {
  const remote = socketEnd("getpeername", fd);
  if (remote === null) return null;
  const local = socketEnd("getsockname", fd);
  if (local === null) return null;
  return { remote: { ip: remote.ip, port: remote.port }, local: { ip: local.ip, port: local.port }, ipv6Socket: local.ipv6Family };
}

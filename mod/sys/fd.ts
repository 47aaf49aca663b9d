/**
 * File-descriptor calls Node does not offer, through bun:ffi: dup and dup2 (serve keeps
 * a duplicate of its listening socket so it can stop accepting while the kernel keeps
 * queueing connections in the backlog, as tcpserver's -c does), and setsockopt for
 * tcpserver's IP-options kill (-O) and TCP_NODELAY (-d/-D), and ioctl(SIOCOUTQ) for how much
 * of what was written a TCP peer has not yet taken, and SO_RCVBUF to bound what the kernel
 * accepts from a peer that is not being read, and TCP_DEFER_ACCEPT for listeners whose
 * clients always speak first. Works inside the compiled binary.
 */
import { SysCallError, lastErrno, libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  dup: { args: ["i32"], returns: "i32" },
  dup2: { args: ["i32", "i32"], returns: "i32" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  listen: { args: ["i32", "i32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
}).symbols;

function failed(call: string): SysCallError {
  return new SysCallError(call, lastErrno());
}

/** dup(2): a new descriptor for the same open file (close-on-exec is not set on it). */
export function dup(fd: number): number {
  const copy = libc().dup(fd);
  if (copy < 0) throw failed("dup");
  return copy;
}

/** fcntl(F_DUPFD_CLOEXEC): a new descriptor for the same open file that no spawned program inherits. */
export function dupCloseOnExec(fd: number): number {
  const F_DUPFD_CLOEXEC = 1030;
  const copy = libc().fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw failed("fcntl");
  return copy;
}

/** dup2(2): makes `to` refer to the same open file as `from`. */
export function dup2(from: number, to: number): void {
  if (libc().dup2(from, to) < 0) throw failed("dup2");
}

/** close(2) of a descriptor this process opened through dup. */
export function closeFd(fd: number): void {
  if (libc().close(fd) < 0) throw failed("close");
}

const IPPROTO_IP = 0;
const IP_OPTIONS = 4;

/** Removes IP options (source routes) from a TCP socket, as ucspi-tcp's socket_ipoptionskill. */
export function killIpOptions(fd: number): boolean {
  return libc().setsockopt(fd, IPPROTO_IP, IP_OPTIONS, null, 0) === 0;
}

/** listen(2) again on a listening socket: Linux then takes the new backlog (Bun's listen ignores the one it is given). */
export function setListenBacklog(fd: number, backlog: number): void {
  if (libc().listen(fd, backlog) < 0) throw failed("listen");
}

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** Sets or clears TCP_NODELAY (Bun turns it on for every socket, and setNoDelay(false) does not clear it). */
export function setTcpNoDelay(fd: number, on: boolean): boolean {
  const value = new Int32Array([on ? 1 : 0]);
  return libc().setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, value, 4) === 0;
}

const TCP_DEFER_ACCEPT = 9;

/**
 * TCP_DEFER_ACCEPT on a listening socket: the kernel hands over a connection only once its
 * first data has arrived (or, for a peer that sends nothing, about `seconds` after the
 * handshake), so accepting it and reading what it sent take one wake-up instead of two.
 */
export function setDeferAccept(fd: number, seconds: number): boolean {
  return libc().setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, new Int32Array([seconds]), 4) === 0;
}

/** The listening socket's TCP_DEFER_ACCEPT (0: off; Linux reports it rounded up to its SYN-ACK retransmission times); undefined if the kernel does not say. */
export function deferAcceptSeconds(fd: number): number | undefined {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  return libc().getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, value, length) < 0 ? undefined : value[0];
}

const TCP_QUICKACK = 12;

/**
 * TCP_QUICKACK: acknowledge what arrives next at once instead of delaying the ACK (Linux turns
 * it off again by itself once the connection looks interactive, so it is set where it matters).
 */
export function setTcpQuickAck(fd: number): boolean {
  return libc().setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, new Int32Array([1]), 4) === 0;
}

const SIOCOUTQ = 0x5411; // Linux: TIOCOUTQ; octets in a TCP socket's send queue not yet acknowledged
const outq = new Int32Array(1);

/** Octets written to the TCP socket `fd` that the peer has not acknowledged yet; undefined if the kernel does not say. */
export function unsentOctets(fd: number): number | undefined {
  return libc().ioctl(fd, SIOCOUTQ, outq) < 0 ? undefined : outq[0];
}

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

/**
 * Fixes the socket's receive buffer at `octets` (Linux doubles it for bookkeeping and stops
 * auto-tuning it): the TCP window a peer may fill while we do not read is then that small.
 */
export function setReceiveBuffer(fd: number, octets: number): boolean {
  return libc().setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Int32Array([octets]), 4) === 0;
}

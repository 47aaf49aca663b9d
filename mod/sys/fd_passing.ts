/**
 * Unix-domain socket pairs and descriptor passing (SCM_RIGHTS) through bun:ffi, which
 * Node does not offer: serve --inline hands an accepted connection to a mail worker
 * process with sendmsg, and the worker takes it with recvmsg. The msghdr, iovec and
 * cmsghdr structures are packed here for LP64 Linux (x86-64 and arm64 share the layout).
 */
import { ptr } from "bun:ffi";
import { SysCallError, lastErrno, libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
  sendmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
  recvmsg: { args: ["i32", "ptr", "i32"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
}).symbols;

const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EINTR = 4;

/** struct msghdr: name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad). */
const MSGHDR_SIZE = 56;
/** struct cmsghdr header (len, level, type) before the data; CMSG_SPACE(sizeof(int)) in all. */
const CMSG_HEADER = 16;
const CMSG_SPACE_ONE_FD = 24;
const CMSG_LEN_ONE_FD = CMSG_HEADER + 4;

/**
 * socketpair(AF_UNIX, type, 0), both ends close-on-exec (a child gets one end only where it
 * is passed on purpose, as a spawn's stdio slot). Throws SysCallError.
 */
export function socketPair(type: number = SOCK_STREAM): [number, number] {
  const fds = new Int32Array(2);
  if (libc().socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0) throw new SysCallError("socketpair", lastErrno());
  return [fds[0]!, fds[1]!];
}

/** close(2); errors are ignored (the descriptor is gone either way). */
export function closeDescriptor(fd: number): void {
  libc().close(fd);
}

function header(iov: Uint8Array, control: Uint8Array | null, controlLength: number): Uint8Array {
  const msg = new Uint8Array(MSGHDR_SIZE);
  const view = new DataView(msg.buffer);
  view.setBigUint64(16, BigInt(ptr(iov)), true);
  view.setBigUint64(24, 1n, true);
  if (control !== null) {
    view.setBigUint64(32, BigInt(ptr(control)), true);
    view.setBigUint64(40, BigInt(controlLength), true);
  }
  return msg;
}

function iovec(data: Uint8Array): Uint8Array {
  const iov = new Uint8Array(16);
  const view = new DataView(iov.buffer);
  view.setBigUint64(0, BigInt(ptr(data)), true);
  view.setBigUint64(8, BigInt(data.length), true);
  return iov;
}

/**
 * sendmsg(2) of `data` (non-empty) with `fd` attached as SCM_RIGHTS (none when undefined),
 * MSG_NOSIGNAL (a gone peer is EPIPE, never SIGPIPE). Returns the octets sent; throws SysCallError.
 */
export function sendWithDescriptor(socket: number, data: Uint8Array, fd: number | undefined): number {
  if (data.length === 0) throw new RangeError("sendWithDescriptor: nothing to send");
  const control = fd === undefined ? null : new Uint8Array(CMSG_SPACE_ONE_FD);
  if (control !== null) {
    const view = new DataView(control.buffer);
    view.setBigUint64(0, BigInt(CMSG_LEN_ONE_FD), true);
    view.setInt32(8, SOL_SOCKET, true);
    view.setInt32(12, SCM_RIGHTS, true);
    view.setInt32(16, fd!, true);
  }
  const iov = iovec(data);
  const msg = header(iov, control, CMSG_SPACE_ONE_FD);
  for (;;) {
    const n = Number(libc().sendmsg(socket, msg, MSG_NOSIGNAL));
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SysCallError("sendmsg", errno);
  }
}

export interface Received {
  /** Octets read into the buffer (0: the peer closed). */
  length: number;
  /** The descriptor that came with them (close-on-exec), if any. */
  fd: number | undefined;
}

/**
 * recvmsg(2) into `buffer`, taking at most one passed descriptor (any more that a peer sent
 * are closed). Blocks when the socket does; throws SysCallError.
 */
export function receiveWithDescriptor(socket: number, buffer: Uint8Array): Received {
  // Room for a few descriptors, so extra ones a peer sends arrive here and are closed, not leaked.
  const control = new Uint8Array(CMSG_HEADER + 8 * 4);
  const iov = iovec(buffer);
  const msg = header(iov, control, control.length);
  let n: number;
  for (;;) {
    n = Number(libc().recvmsg(socket, msg, MSG_CMSG_CLOEXEC));
    if (n >= 0) break;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SysCallError("recvmsg", errno);
  }
  const view = new DataView(msg.buffer);
  const controlLength = Number(view.getBigUint64(40, true));
  let fd: number | undefined;
  const cview = new DataView(control.buffer);
  if (controlLength >= CMSG_LEN_ONE_FD && cview.getInt32(8, true) === SOL_SOCKET && cview.getInt32(12, true) === SCM_RIGHTS) {
    const len = Number(cview.getBigUint64(0, true));
    const count = Math.max(0, Math.floor((Math.min(len, controlLength) - CMSG_HEADER) / 4));
    for (let i = 0; i < count; i++) {
      const passed = cview.getInt32(CMSG_HEADER + 4 * i, true);
      if (fd === undefined) fd = passed;
      else closeDescriptor(passed);
    }
  }
  return { length: n, fd };
}

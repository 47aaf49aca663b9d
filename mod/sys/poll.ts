/**
 * poll(2) and recv(2) through bun:ffi, for the applets' synchronous I/O on an
 * inherited socket or pipe: wait for readiness with a timeout (qmail's timeoutread /
 * timeoutwrite), and peek at socket data without consuming it (popup must leave every
 * byte after the authorizing command to the program it runs).
 */
import { writeSync } from "node:fs";
import { ptr } from "bun:ffi";
import { SysCallError, lastErrno, libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  recv: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  send: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
}).symbols;

export const POLLIN = 0x001;
export const POLLOUT = 0x004;
const POLLERR = 0x008;
const POLLHUP = 0x010;
const POLLNVAL = 0x020;
const MSG_PEEK = 0x2;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_MORE = 0x8000;
// Linux's errno values, as the flags above are Linux's (<asm-generic/errno-base.h>).
const EINTR = 4;
const EAGAIN = 11;

/** What waiting for an fd gave: ready (or hung up / in error: the next read or write tells), or timed out. */
export type PollResult = "ready" | "timeout";

/**
 * Waits until `fd` is ready for `events` (POLLIN or POLLOUT) or `timeoutMs` passed.
 * A hang-up or error counts as ready so that the following read or write reports it.
 */
export function pollFd(fd: number, events: number, timeoutMs: number): PollResult {
  const pfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    view.setInt16(6, 0, true);
    const rc = libc().poll(ptr(pfd), 1, Math.min(left, 0x7fffffff));
    if (rc > 0) {
      const revents = view.getInt16(6, true);
      if (revents & (events | POLLERR | POLLHUP | POLLNVAL)) return "ready";
    } else if (rc === 0) {
      return "timeout";
    } else if (lastErrno() !== EINTR) {
      return "ready"; // let the read or write report the error
    }
    if (Date.now() >= deadline) return "timeout";
  }
}

/**
 * recv(fd, buf, MSG_PEEK|MSG_DONTWAIT): copies pending socket bytes into `buf` without
 * consuming them, never waiting. Returns the count (0 at end of stream), or -1 when none are
 * pending yet (EAGAIN/EINTR). Throws SysCallError on other errors (EBADF, ENOTSOCK ...).
 */
export function peekSocket(fd: number, buf: Uint8Array): number {
  const n = Number(libc().recv(fd, ptr(buf), buf.length, MSG_PEEK | MSG_DONTWAIT));
  if (n >= 0) return n;
  const errno = lastErrno();
  if (errno === EAGAIN || errno === EINTR) return -1;
  throw new SysCallError("recv", errno);
}

/**
 * send(fd, buf, MSG_DONTWAIT|MSG_NOSIGNAL): what the kernel takes of `buf` at once, never
 * waiting, even on a blocking socket (the one tcpserver and serve hand their programs): a
 * blocking write(2) of a large piece would wait for a client that reads nothing, or very
 * slowly, beyond every timeout. Returns the count, or -1 when the socket's buffer is full
 * (EAGAIN/EINTR: poll for POLLOUT). Throws SysCallError on other errors (EPIPE, ECONNRESET).
 * `more` (MSG_MORE): the kernel holds a last partial segment back for what follows; only for
 * a connection's last output, closed or shut down right after, whose FIN then goes with it.
 */
export function sendNow(fd: number, buf: Uint8Array, more = false): number {
  const n = Number(libc().send(fd, ptr(buf), buf.length, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0)));
  if (n >= 0) return n;
  const errno = lastErrno();
  if (errno === EAGAIN || errno === EINTR) return -1;
  throw new SysCallError("send", errno);
}

/**
 * Writes `chunk` to the non-blocking socket `fd` as far as the kernel takes it at once:
 * returns the octets taken (fewer than asked when its buffer filled), or -1 once the
 * connection failed (EPIPE, ECONNRESET). `last`: the connection is closed right after, so
 * the piece goes with MSG_MORE (sendNow) and leaves with the FIN.
 */
export function writeAvailable(fd: number, chunk: Uint8Array, last = false): number {
  let sent = 0;
  while (sent < chunk.length) {
    try {
      if (last) {
        const n = sendNow(fd, chunk.subarray(sent), true);
        if (n < 0) return sent;
        sent += n;
        continue;
      }
      sent += writeSync(fd, chunk, sent, chunk.length - sent);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EAGAIN") return sent;
      if (code === "EINTR") continue;
      return -1;
    }
  }
  return sent;
}

/**
 * Reads and drops what the peer already sent on socket `fd` (at most `limit` octets), without
 * waiting. A process that ends with unread input makes close(2) reset the connection, and a
 * reset throws away answers still queued to be sent (the -ERR to a PASS the client pipelined
 * QUIT after): draining first lets the connection end with a FIN after the last answer.
 * Does nothing on a pipe or a closed descriptor.
 */
export function drainPendingInput(fd: number, limit = 1 << 20): void {
  const buf = new Uint8Array(16 * 1024);
  for (let dropped = 0; dropped < limit;) {
    const n = Number(libc().recv(fd, ptr(buf), buf.length, MSG_DONTWAIT));
    if (n > 0) {
      dropped += n;
      continue;
    }
    if (n < 0 && lastErrno() === EINTR) continue;
    return; // 0: the peer closed; EAGAIN: nothing more now; ENOTSOCK, EBADF: not a socket
  }
}

export type PollOutcome = "ready" | "timeout" | "interrupted";

/**
 * One poll(2) for readability that returns on a signal (EINTR) instead of retrying: a
 * reader that blocks here still sees SIGTERM and SIGALRM promptly (the JavaScript listeners
 * run when control returns to the event loop), and nothing is read from the fd that the
 * caller does not process (unlike a read parked in a thread). End of file and errors count
 * as readable.
 */
export function pollReadable(fd: number, timeoutMs: number): PollOutcome {
  const pfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  const rc = libc().poll(ptr(pfd), 1, timeoutMs);
  if (rc > 0) return "ready";
  if (rc === 0) return "timeout";
  return lastErrno() === EINTR ? "interrupted" : "ready"; // the read reports other errors
}

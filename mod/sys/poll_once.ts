/**
 * One poll(2) on one fd through bun:ffi, returning on a signal (EINTR) instead of
 * retrying: a reader that blocks here still sees SIGTERM and SIGALRM promptly (the
 * JavaScript listeners run when control returns to the event loop), and nothing is
 * read from the fd that the caller does not process (unlike a read parked in a thread).
 */
import { dlopen, ptr, read } from "bun:ffi";
import { constants } from "node:os";

function openLibc() {
  return dlopen("libc.so.6", {
    poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  });
}

let handle: ReturnType<typeof openLibc> | undefined;
const POLLIN = 0x001;
const pollfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
const view = new DataView(pollfd.buffer);

export type PollOutcome = "ready" | "timeout" | "interrupted";

/** Waits up to `timeoutMs` for `fd` to be readable (end of file and errors count as readable). */
export function pollReadable(fd: number, timeoutMs: number): PollOutcome {
  handle ??= openLibc();
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  view.setInt16(6, 0, true);
  const rc = handle.symbols.poll(ptr(pollfd), 1, timeoutMs);
  if (rc > 0) return "ready";
  if (rc === 0) return "timeout";
  const where = handle.symbols.__errno_location();
  const errno = where === null ? 0 : read.i32(where, 0);
  return errno === constants.errno.EINTR ? "interrupted" : "ready"; // the read reports other errors
}

/**
 * flock(2) through bun:ffi: the lock daemontools takes on a log directory's `lock` file
 * (lock_exnb: flock(fd, LOCK_EX | LOCK_NB)), so ours and Debian's multilog exclude each other.
 */
import { dlopen, read } from "bun:ffi";
import { constants } from "node:os";

function openLibc() {
  return dlopen("libc.so.6", {
    flock: { args: ["i32", "i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  });
}

let handle: ReturnType<typeof openLibc> | undefined;

const LOCK_EX = 2;
const LOCK_NB = 4;
const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** A failed flock: `code` is the errno name, as in Node's system errors. */
export class FlockError extends Error {
  readonly code: string;
  constructor(code: string) {
    super(`flock: ${code}`);
    this.name = "FlockError";
    this.code = code;
  }
}

/** Takes an exclusive lock without waiting; throws FlockError (code EWOULDBLOCK/EAGAIN when held elsewhere). */
export function lockExclusiveNonBlocking(fd: number): void {
  handle ??= openLibc();
  for (;;) {
    if (handle.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return;
    const where = handle.symbols.__errno_location();
    const errno = where === null ? 0 : read.i32(where, 0);
    if (errno === constants.errno.EINTR) continue;
    throw new FlockError(ERRNO_NAMES.get(errno) ?? `E${errno}`);
  }
}

/**
 * clock_gettime(CLOCK_REALTIME) through bun:ffi: the wall clock to the nanosecond, as
 * daemontools' taia_now on Debian reads it (Date.now() has only milliseconds, and
 * performance.now() follows the monotonic clock, which ignores the clock being set).
 * Falls back to Date.now() when libc cannot be opened.
 */
import { dlopen, ptr } from "bun:ffi";

const CLOCK_REALTIME = 0;

function openLibc() {
  return dlopen("libc.so.6", {
    clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  });
}

let handle: ReturnType<typeof openLibc> | null | undefined;
/** struct timespec { time_t tv_sec; long tv_nsec; } on LP64. */
const timespec = new BigInt64Array(2);

/** Seconds since the epoch (UTC, no leap seconds) and nanoseconds within the second. */
export interface WallTime {
  sec: number;
  nsec: number;
}

export function wallClock(): WallTime {
  if (handle === undefined) {
    try {
      handle = openLibc();
    } catch {
      handle = null;
    }
  }
  if (handle !== null && handle.symbols.clock_gettime(CLOCK_REALTIME, ptr(timespec)) === 0) {
    return { sec: Number(timespec[0]), nsec: Number(timespec[1]) };
  }
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

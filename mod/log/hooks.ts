/** What the multilog library needs from its surroundings, passed in so tests can set it. */
import type { WallTime } from "../sys/clock.ts";

export interface LogHooks {
  /** Prints one warning line (the caller adds "multilog: warning: "). */
  warn(message: string): void;
  /** Copies selected lines to stderr (the `e` action). */
  stderr(bytes: Uint8Array): void;
  /** The wall clock, for `t` and rotated file names. */
  clock(): WallTime;
  /** How long to wait after a failure before trying again (multilog: 5 s). */
  pauseMs: number;
}

/** Blocks the thread (as multilog's deepsleep does: signals wait until it is over). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** multilog's pause3/pause5: warn "..., pausing: why", sleep, let the caller try again. */
export function pause(hooks: LogHooks, message: string, why: string): void {
  hooks.warn(`${message}, pausing: ${why}`);
  sleepSync(hooks.pauseMs);
}

/**
 * A session's watchdog: alarm(2), a timer kept by the kernel, so it fires while the
 * JavaScript thread is blocked in a system call (a stat or an open on a hung NFS server,
 * or on a FUSE filesystem that does not answer), where no timer of the event loop can run.
 * SIGALRM's default action ends the process, and the kernel delivers it even to a process
 * waiting in a killable sleep: the session ends, its descriptors close (the client sees the
 * connection end) and the slot it held in serve's `-c` is free again.
 *
 * Only a process that serves one user's session and nothing else arms it (pop3d, the
 * checkpassword that becomes pop3d, a mail worker during a session), never serve: a kill
 * there would end every session it holds. checkpassword arms it for the change to the home
 * and stops it before it runs PROG (a timer survives execve, and PROG may be a program that
 * knows nothing of it); poppin's pop3d arms its own before it touches the Maildir.
 *
 * What no signal ends: a FUSE request the filesystem's process has already read and never
 * answers (the kernel waits for the answer even after SIGKILL). Linux 6.14 and later end
 * those with the `fs.fuse.max_request_timeout` sysctl (docs/security.md; `poppin doctor`).
 */
import { nodeOs } from "./builtins.ts";
import { libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  alarm: { args: ["u32"], returns: "u32" },
  signal: { args: ["i32", "ptr"], returns: "ptr" },
});

/**
 * Past the session's read/write timeout, how long the session's own work (a scan, a lock, a
 * message read) may still take without a word to or from the client. A client wait is already
 * bounded by the timeout, so only a process stuck outside it is ended.
 */
export const WATCHDOG_GRACE_SECONDS = 10;

/** The kernel's alarm(2) takes whole seconds up to this (and setitimer's limit is higher). */
const MAX_ALARM_SECONDS = 0x7fffffff;

export interface Watchdog {
  /** Restarts the count: called at each exchange with the client (before and after each wait). */
  kick(): void;
  /** No more count (a mail worker between sessions). */
  stop(): void;
}

/** SIGALRM back to its default action (ended), in case an ancestor left it ignored across exec. */
function defaultAlarmAction(): void {
  libc.symbols().signal(nodeOs().constants.signals.SIGALRM, null);
}

/**
 * Arms the watchdog of this process: it ends the process when `timeoutMs` (the session's
 * read/write timeout) plus WATCHDOG_GRACE_SECONDS pass without a kick.
 */
export function armWatchdog(timeoutMs: number): Watchdog {
  const seconds = Math.min(MAX_ALARM_SECONDS, Math.ceil(timeoutMs / 1000) + WATCHDOG_GRACE_SECONDS);
  defaultAlarmAction();
  const alarm = libc.symbols().alarm;
  alarm(seconds);
  return {
    kick: () => void alarm(seconds),
    stop: stopWatchdog,
  };
}

/** Stops this process's watchdog, whoever armed it (alarm(0)). */
export function stopWatchdog(): void {
  libc.symbols().alarm(0);
}

/**
 * How a parent words the end of a session process by `signal`: the watchdog's signal says
 * why (the session was stuck, most likely in a filesystem that does not answer).
 */
export function killedBy(signal: string): string {
  return signal === "SIGALRM" ? "killed by SIGALRM: its watchdog ended it, stuck past the timeout (a filesystem that does not answer?)" : `killed by ${signal}`;
}

/**
 * djb's checkpassword execs PROG with every descriptor it inherited (but fd 3, which it
 * closed). Bun marks inherited descriptors close-on-exec at start-up, so we note them
 * before opening anything ourselves and clear the flag just before execve. Bun's own
 * descriptors (epoll, eventfd) are anonymous inodes with no file type and are skipped.
 */
import { readdirSync } from "node:fs";
import { clearCloseOnExec } from "../sys/libc.ts";
import { isInheritedFd } from "./request.ts";

/** Bound on how many inherited descriptors we pass on. */
const MAX_INHERITED = 1024;

/** Descriptors above `above` that came from our parent (call before opening any file). */
export function inheritedFds(above = 3): number[] {
  let names: string[];
  try {
    names = readdirSync("/proc/self/fd");
  } catch {
    return [];
  }
  return names.map(Number).filter((fd) => Number.isInteger(fd) && fd > above && isInheritedFd(fd)).slice(0, MAX_INHERITED);
}

/** Lets the descriptors through execve; one that vanished meanwhile is skipped. */
export function passThrough(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      clearCloseOnExec(fd);
    } catch {
      /* closed since: nothing to pass */
    }
  }
}

/**
 * prctl(PR_SET_DUMPABLE, 0) through bun:ffi: a process that holds passwords makes itself
 * unreadable by other processes of its uid (no ptrace attach, no /proc/PID/mem or environ,
 * no core dump); the kernel then owns its /proc entries as root. An exec makes a process
 * dumpable again, so each such program calls this first, before any secret arrives.
 */
import { readFileSync } from "node:fs";
import { SysCallError, lastErrno, libcFunctions } from "./ffi.ts";

const libc = libcFunctions({
  prctl: { args: ["i32", "u64", "u64", "u64", "u64"], returns: "i32" },
}).symbols;

const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;

/** Makes this process non-dumpable; throws SysCallError when the kernel refuses. */
export function makeUndumpable(): void {
  if (libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) throw new SysCallError("prctl", lastErrno());
}

/** Whether this process is dumpable (PR_GET_DUMPABLE). */
export function isDumpable(): boolean {
  return libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) !== 0;
}

/**
 * The pid of the process tracing this one (0: none), from /proc/self/status. A tracer that
 * attached before makeUndumpable() keeps its access: checked right after it.
 */
export function tracerPid(): number {
  const m = /^TracerPid:\s*(\d+)$/m.exec(readFileSync("/proc/self/status", "latin1"));
  return m ? Number(m[1]) : 0;
}

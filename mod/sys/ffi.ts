/**
 * The one way poppin reaches libc through bun:ffi: each module declares the functions it
 * needs, the library is opened on first use (so an applet that never calls them pays
 * nothing), and errno is read (lastErrno) right after a failed call. Failures are SysCallError, whose
 * `code` is the errno name ("EACCES") as in Node's system errors, so describeSysError and
 * djb-style messages word them alike.
 */
import { dlopen, read, type FFIFunction } from "bun:ffi";
import { nodeOs } from "./builtins.ts";
import { openUnderLimits } from "./memory_limit.ts";

/** Made at the first failed call: building it from node:os's table costs a process start about a millisecond. */
let errnoNames: Map<number, string> | undefined;

export function errnoName(errno: number): string {
  errnoNames ??= new Map<number, string>(Object.entries(nodeOs().constants.errno).map(([name, n]) => [n, name]));
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** A failed libc call: `code` is the errno name, `call` the function. */
export class SysCallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly call: string;
  constructor(call: string, errno: number) {
    const code = errnoName(errno);
    super(`${call}: ${code}`);
    this.name = "SysCallError";
    this.code = code;
    this.errno = errno;
    this.call = call;
  }
}

let errnoLibrary: ReturnType<typeof openErrno> | undefined;

function openErrno() {
  return openUnderLimits(() => dlopen("libc.so.6", { __errno_location: { args: [], returns: "ptr" } }));
}

/** errno of the calling thread, as the last failed libc call left it. */
export function lastErrno(): number {
  errnoLibrary ??= openErrno();
  const where = errnoLibrary.symbols.__errno_location();
  return where === null ? 0 : read.i32(where, 0);
}

/** Lazily opened libc functions `fns`: call `symbols()` to reach them (libc opens on first use). */
export function libcFunctions<Fns extends Record<string, FFIFunction>>(fns: Fns): { symbols: () => ReturnType<typeof dlopen<Fns>>["symbols"] } {
  let library: ReturnType<typeof dlopen<Fns>> | undefined;
  return { symbols: () => (library ??= openUnderLimits(() => dlopen("libc.so.6", fns))).symbols };
}

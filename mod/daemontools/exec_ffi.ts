/**
 * execve, getrlimit and setrlimit through bun:ffi, arranged so softlimit can lower this
 * process's limits and exec at once. Bun itself cannot live under a small data or
 * address-space limit, so every buffer is built first, the limits are set and execve is
 * tried on each candidate in a tight loop, and the old limits come back if no exec worked.
 */
import { ptr, read } from "bun:ffi";
import { constants } from "node:os";
import { SysCallError, lastErrno, libcFunctions } from "../sys/ffi.ts";
import { cBytes, pathexecCandidates, PATHEXEC_TRIES_NEXT } from "../sys/libc.ts";

const libc = libcFunctions({
  execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  getrlimit: { args: ["i32", "ptr"], returns: "i32" },
  setrlimit: { args: ["i32", "ptr"], returns: "i32" },
}).symbols;
const errno = lastErrno;

/** A failed call with Node's style of `code` (the errno name), so djbErrorText can word it. */
export { SysCallError };

/** Linux's resource numbers (asm-generic/resource.h; the same on x86_64 and arm64). */
export const RLIMIT = {
  CPU: 0, FSIZE: 1, DATA: 2, STACK: 3, CORE: 4, RSS: 5, NPROC: 6, NOFILE: 7, MEMLOCK: 8, AS: 9,
} as const;

export interface Limit { soft: bigint; hard: bigint }

export function getrlimit(resource: number): Limit {
  const r = new BigUint64Array(2);
  if (libc().getrlimit(resource, r) !== 0) throw new SysCallError("getrlimit", errno());
  return { soft: r[0], hard: r[1] };
}

const E = constants.errno;
/** PATHEXEC_TRIES_NEXT as errno numbers, made before the exec loop (which must not allocate). */
const TRIES_NEXT = new Set(PATHEXEC_TRIES_NEXT.map((name) => E[name as keyof typeof E]));

function pointerArray(values: readonly string[]): { array: BigUint64Array; keep: Buffer[] } {
  const keep = values.map(cBytes);
  const array = new BigUint64Array(keep.length + 1);
  keep.forEach((b, i) => { array[i] = BigInt(ptr(b)); });
  return { array, keep };
}

/** A limit to set just before exec: resource and the new soft/hard pair. */
export interface PreparedLimit { resource: number; value: BigUint64Array }

/**
 * Sets `limits`, then execs argv[0] found as pathexec_run does (ENOENT: next directory;
 * EACCES, EPERM, EISDIR: remembered, next directory; anything else: stop). Returns only by
 * throwing SysCallError (setrlimit or execve), after putting the old limits back.
 */
export function execWithLimits(argv: readonly string[], env: Record<string, string>, limits: readonly PreparedLimit[] = []): never {
  const files = pathexecCandidates(argv[0], env.PATH).map(cBytes);
  const args = pointerArray(argv);
  const envp = pointerArray(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const saved = limits.map(({ resource }) => {
    const r = new BigUint64Array(2);
    if (libc().getrlimit(resource, r) !== 0) throw new SysCallError("getrlimit", errno());
    return r;
  });
  const sym = libc();
  let applied = 0;
  let failedCall = "execve";
  let code = 0;
  let savedCode = 0;
  // From here to the restore: no allocation that a tiny data limit could refuse.
  for (; applied < limits.length; applied++) {
    if (sym.setrlimit(limits[applied].resource, limits[applied].value) !== 0) {
      code = errno();
      failedCall = "setrlimit";
      break;
    }
  }
  if (failedCall === "execve") {
    for (let i = 0; i < files.length; i++) {
      sym.execve(files[i], args.array, envp.array);
      code = errno();
      if (code === E.ENOENT) continue;
      savedCode = code;
      if (!TRIES_NEXT.has(code)) break;
    }
    if (savedCode !== 0) code = savedCode;
  }
  for (let i = applied - 1; i >= 0; i--) sym.setrlimit(limits[i].resource, saved[i]);
  void args.keep; void envp.keep;
  throw new SysCallError(failedCall, code);
}

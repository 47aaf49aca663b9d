/**
 * softlimit's options (daemontools 0.76): each sets the soft limit of one or more
 * resources to a number (capped at the hard limit) or to the hard limit itself ("=").
 */
import { getrlimit, RLIMIT, type PreparedLimit } from "./exec_ffi.ts";
import { sgetopt } from "./sgetopt.ts";

export const SOFTLIMIT_USAGE =
  "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child";

/** Which resources each option sets, in softlimit.c's order (Linux has no RLIMIT_VMEM). */
const RESOURCES: Record<string, number[]> = {
  a: [RLIMIT.AS],
  c: [RLIMIT.CORE],
  d: [RLIMIT.DATA],
  f: [RLIMIT.FSIZE],
  l: [RLIMIT.MEMLOCK],
  m: [RLIMIT.DATA, RLIMIT.STACK, RLIMIT.MEMLOCK, RLIMIT.AS],
  o: [RLIMIT.NOFILE],
  p: [RLIMIT.NPROC],
  r: [RLIMIT.RSS],
  s: [RLIMIT.STACK],
  t: [RLIMIT.CPU],
};

/** One change: a number, or "hard" for "=". */
export interface LimitChange { resource: number; value: bigint | "hard" }

export type SoftlimitArgs =
  | { ok: true; changes: LimitChange[]; child: string[] }
  | { ok: false; complaint?: string };

/** djb's scan_ulong over the whole word: digits only (none at all reads as 0), wrapping like an unsigned long. */
function parseUlong(text: string): bigint | undefined {
  if (!/^[0-9]*$/.test(text)) return undefined;
  return text === "" ? 0n : BigInt(text) & ((1n << 64n) - 1n);
}

export function parseSoftlimitArgs(args: readonly string[]): SoftlimitArgs {
  const got = sgetopt(args, "a:c:d:f:l:m:o:p:r:s:t:");
  if (!got.ok) return { ok: false, complaint: got.complaint };
  const changes: LimitChange[] = [];
  for (const { flag, value } of got.parsed.options) {
    let limit: bigint | "hard";
    if (value === "=") limit = "hard";
    else {
      const n = parseUlong(value);
      if (n === undefined) return { ok: false };
      limit = n;
    }
    for (const resource of RESOURCES[flag]) changes.push({ resource, value: limit });
  }
  if (got.parsed.rest.length === 0) return { ok: false };
  return { ok: true, changes, child: got.parsed.rest };
}

/** The soft/hard pairs to set, computed from the current limits; throws SysCallError("getrlimit"). */
export function prepareLimits(changes: readonly LimitChange[]): PreparedLimit[] {
  const current = new Map<number, { soft: bigint; hard: bigint }>();
  for (const { resource, value } of changes) {
    const limit = current.get(resource) ?? getrlimit(resource);
    const soft = value === "hard" || value > limit.hard ? limit.hard : value;
    current.set(resource, { soft, hard: limit.hard });
  }
  return [...current].map(([resource, l]) => ({ resource, value: new BigUint64Array([l.soft, l.hard]) }));
}

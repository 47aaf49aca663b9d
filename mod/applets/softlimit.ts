import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { execEnvironment } from "../daemontools/pathexec.ts";
import type { PreparedLimit } from "../daemontools/exec_ffi.ts";
import { runChild, usageExit } from "../daemontools/run_child.ts";
import { parseSoftlimitArgs, prepareLimits, SOFTLIMIT_USAGE } from "../daemontools/softlimit.ts";
import { djbErrorText } from "../log/djb_errors.ts";
import { RLIMIT } from "../daemontools/exec_ffi.ts";
import { memoryLimitAdvice, RUNTIME_MIN_MEMORY_LIMIT } from "../sys/memory_limit.ts";
import { pathexecCandidates } from "../sys/libc.ts";
import { realpathSync, statSync } from "node:fs";

/** The file pathexec would run for `name`, when it is this very binary (poppin under any name). */
function runsPoppin(name: string, path: string | undefined, execPath: string): boolean {
  let self: string;
  try { self = realpathSync(execPath); } catch { return false; }
  for (const candidate of pathexecCandidates(name, path)) {
    try {
      if (!statSync(candidate).isFile()) continue;
      return realpathSync(candidate) === self;
    } catch { /* not there: the next PATH entry */ }
  }
  return false;
}

/**
 * A data or address-space limit under which the runtime cannot start, when the child is poppin
 * (qmail-era run scripts say `softlimit -m 2000000 tcpserver ...`): the sentence to refuse with.
 * Bun would crash silently (SIGSEGV) or start without the bun:ffi poppin needs.
 */
function tooSmallForPoppin(limits: readonly PreparedLimit[]): string | undefined {
  for (const { resource, value } of limits) {
    if (resource !== RLIMIT.DATA && resource !== RLIMIT.AS) continue;
    if (value[0]! < RUNTIME_MIN_MEMORY_LIMIT) {
      const what = resource === RLIMIT.DATA ? "data size" : "address space";
      return `poppin cannot start with its ${what} limited to ${value[0]} bytes: ${memoryLimitAdvice()}`;
    }
  }
  return undefined;
}

export const applet: Applet = {
  name: "softlimit",
  summary: "run a program with lower soft resource limits (daemontools)",
  usage: SOFTLIMIT_USAGE,
  async run(args, ctx) {
    const parsed = parseSoftlimitArgs(args);
    if (!parsed.ok) {
      // sgetopt's line names the program as called, then the usage.
      if (parsed.complaint) writeStderr(`${ctx.classic ? ctx.calledAs : ctx.prefix}: ${parsed.complaint}\n`);
      return usageExit(ctx, SOFTLIMIT_USAGE);
    }
    let limits: PreparedLimit[];
    try {
      limits = prepareLimits(parsed.changes);
    } catch (err) {
      fatal(ctx, `getrlimit failed: ${djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    const env = execEnvironment(ctx.env);
    const tooSmall = runsPoppin(parsed.child[0]!, env.PATH, ctx.execPath) ? tooSmallForPoppin(limits) : undefined;
    if (tooSmall !== undefined) {
      fatal(ctx, `unable to run ${parsed.child[0]}: ${tooSmall}`);
      return EXIT_TEMP;
    }
    return runChild(ctx, parsed.child, env, limits);
  },
};

import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { execEnvironment } from "../daemontools/pathexec.ts";
import type { PreparedLimit } from "../daemontools/exec_ffi.ts";
import { runChild, usageExit } from "../daemontools/run_child.ts";
import { parseSoftlimitArgs, prepareLimits, SOFTLIMIT_USAGE } from "../daemontools/softlimit.ts";
import { djbErrorText } from "../log/djb_errors.ts";

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
    return runChild(ctx, parsed.child, execEnvironment(ctx.env), limits);
  },
};

import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../cli/errors.ts";
import { runChild, usageExit } from "../daemontools/run_child.ts";
import { execEnvironment } from "../daemontools/pathexec.ts";
import { getpwnam } from "../sys/libc.ts";

const SYNOPSIS = "envuidgid account child";

export const applet: Applet = {
  name: "envuidgid",
  summary: "run a program with $UID and $GID set to an account's (daemontools)",
  usage: SYNOPSIS,
  async run(args, ctx) {
    const [account, ...child] = args;
    if (account === undefined || child.length === 0) return usageExit(ctx, SYNOPSIS);
    const pw = getpwnam(account);
    if (!pw) {
      fatal(ctx, `unknown account ${account}`);
      return EXIT_TEMP;
    }
    const env = execEnvironment(ctx.env);
    env.GID = String(pw.gid);
    env.UID = String(pw.uid);
    return runChild(ctx, child, env);
  },
};

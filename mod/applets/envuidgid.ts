import type { Applet } from "../cli/applet.ts";
import { accountAndChild, runChild } from "../daemontools/run_child.ts";
import { execEnvironment } from "../daemontools/pathexec.ts";

const SYNOPSIS = "envuidgid account child";

export const applet: Applet = {
  name: "envuidgid",
  summary: "run a program with $UID and $GID set to an account's (daemontools)",
  usage: SYNOPSIS,
  async run(args, ctx) {
    const found = accountAndChild(ctx, args, SYNOPSIS);
    if (typeof found === "number") return found;
    const { pw, child } = found;
    const env = execEnvironment(ctx.env);
    env.GID = String(pw.gid);
    env.UID = String(pw.uid);
    return runChild(ctx, child, env);
  },
};

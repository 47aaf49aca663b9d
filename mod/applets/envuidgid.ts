import type { Applet } from "../cli/applet.ts";
import { accountAndChild, runChild } from "../daemontools/run_child.ts";
import { pathexecEnvironment } from "../daemontools/pathexec.ts";

const SYNOPSIS = "envuidgid account child";

export const applet: Applet = {
  name: "envuidgid",
  summary: "run a program with $UID and $GID set to an account's (daemontools)",
  usage: SYNOPSIS,
  async run(args, ctx) {
    const found = accountAndChild(ctx, args, SYNOPSIS);
    if (typeof found === "number") return found;
    const { pw, child } = found;
    // GID first, then UID: envuidgid.c's order, which decides the order env prints them in.
    const env = pathexecEnvironment(ctx.env, [["GID", String(pw.gid)], ["UID", String(pw.uid)]]);
    return runChild(ctx, child, env);
  },
};

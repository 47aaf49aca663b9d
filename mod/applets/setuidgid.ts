import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../base/errors.ts";
import { accountAndChild, runChild } from "../daemontools/run_child.ts";
import { execEnvironment } from "../daemontools/pathexec.ts";
import { djbErrorText } from "../log/djb_errors.ts";
import { idBeyondRuntime } from "../sys/id_range.ts";

const SYNOPSIS = "setuidgid account child";

export const applet: Applet = {
  name: "setuidgid",
  summary: "run a program as an account's uid and gid, no supplementary groups (daemontools)",
  usage: SYNOPSIS,
  async run(args, ctx) {
    const found = accountAndChild(ctx, args, SYNOPSIS);
    if (typeof found === "number") return found;
    const { pw, child } = found;
    // prot_gid: the group list becomes just the gid, then the gid; prot_uid: the uid.
    for (const [call, what, id] of [["setgid", "gid", pw.gid], ["setuid", "uid", pw.uid]] as const) {
      const beyond = idBeyondRuntime(what, id);
      if (beyond === undefined) continue;
      fatal(ctx, `unable to ${call}: ${beyond}`);
      return EXIT_TEMP;
    }
    try {
      process.setgroups!([pw.gid]);
      process.setgid!(pw.gid);
    } catch (err) {
      fatal(ctx, `unable to setgid: ${djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    try {
      process.setuid!(pw.uid);
    } catch (err) {
      fatal(ctx, `unable to setuid: ${djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    return runChild(ctx, child, execEnvironment(ctx.env));
  },
};

import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../base/errors.ts";
import { accountAndChild, runChild } from "../daemontools/run_child.ts";
import { execEnvironment } from "../daemontools/pathexec.ts";
import { djbErrorText } from "../log/djb_errors.ts";
import { IdSwitchError, switchIds } from "../sys/switch_ids.ts";

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
    try {
      switchIds({ uid: pw.uid, gid: pw.gid, groups: { list: [pw.gid] } });
    } catch (err) {
      if (!(err instanceof IdSwitchError)) throw err;
      // djb's words: prot_gid (groups and gid) is "setgid", prot_uid "setuid"; a reason in words when no errno says it.
      fatal(ctx, `unable to ${err.step === "uid" ? "setuid" : "setgid"}: ${err.code === undefined ? err.message : djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    return runChild(ctx, child, execEnvironment(ctx.env));
  },
};

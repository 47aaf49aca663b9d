import type { Applet } from "../cli/applet.ts";
import { usage } from "../cli/context.ts";
import { EXIT_OK, EXIT_PERM, EXIT_USAGE, TempError, describeSysError } from "../base/errors.ts";
import { maildirMake } from "../maildir/make.ts";
import { becomeOwnerOf, checkRootDestination } from "../sys/become_owner.ts";
import { realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";

export const applet: Applet = {
  name: "maildirmake",
  summary: "create a Maildir (DIR, DIR/tmp, DIR/new, DIR/cur, mode 0700), like qmail's",
  usage: "maildirmake name",
  async run(args, ctx) {
    // qmail's maildirmake only looks at argv[1] and ignores the rest.
    const dir = args[0];
    if (dir === undefined) {
      usage(ctx, "maildirmake name");
      // qmail exits 100 on usage (strerr_die1x(100, ...)); as `poppin maildirmake`, poppin's 2.
      return ctx.classic ? EXIT_PERM : EXIT_USAGE;
    }
    // Run by root in a user's directory: made as that user, who can then use it.
    let parent: string | undefined;
    try {
      parent = realpathSync(dirname(resolve(dir)));
    } catch (e) {
      // No parent: maildirMake reports it in qmail's words. Root says so itself: a parent that
      // appeared since (a user's directory, or a link a user made) was checked by nobody.
      if ((process.geteuid?.() ?? 1) === 0) throw new TempError(`unable to mkdir ${dir}: ${describeSysError(e)}`);
    }
    // Still root (root's directory): the new Maildir's path must be root's all the way, with no
    // link a user made on it (realpath above looked through those).
    if (parent !== undefined && becomeOwnerOf(parent, "directory") === undefined) checkRootDestination(dir);
    maildirMake(dir);
    return EXIT_OK;
  },
};

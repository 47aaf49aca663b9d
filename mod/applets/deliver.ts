import type { Applet } from "../cli/applet.ts";
import { EXIT_OK, PermError, PoppinError, TempError, UsageError, describeSysError } from "../base/errors.ts";
import { becomeOwnerOf, checkRootDestination } from "../sys/become_owner.ts";
import { maildirDeliver } from "../maildir/deliver.ts";

export const applet: Applet = {
  name: "deliver",
  summary: "deliver one message from stdin into a Maildir (tmp, fsync, link into new)",
  usage: "deliver MAILDIR < message",
  async run(args, ctx) {
    if (args.length !== 1 || args[0] === "") throw new UsageError(`${ctx.prefix} MAILDIR < message`);
    // Run by root: deliver as the Maildir's owner (its files are theirs to read), checked
    // with lstat so a link never lends root's rights. Prints nothing on success; errors
    // become "poppin deliver: fatal: ..." with exit 100 or 111.
    try {
      // Still root (root's own Maildir): no link a user made on its path either.
      if (becomeOwnerOf(args[0], "directory") === undefined) checkRootDestination(args[0]);
    } catch (e) {
      if (e instanceof PoppinError) throw e;
      const code = (e as { code?: string }).code;
      // No such directory: maildirDeliver says so in its words ("no such Maildir").
      if (code !== "ENOENT" && code !== "ENOTDIR") throw new TempError(`unable to deliver to ${args[0]}: ${describeSysError(e)}`);
      // Root says so itself: a Maildir (or a link on its path) made since was checked by nobody.
      if ((process.geteuid?.() ?? 1) === 0) throw new PermError(`no such Maildir: ${args[0]}`);
    }
    await maildirDeliver(args[0], 0);
    return EXIT_OK;
  },
};

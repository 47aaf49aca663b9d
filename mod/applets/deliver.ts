import type { Applet } from "../cli/applet.ts";
import { EXIT_OK, UsageError } from "../cli/errors.ts";
import { maildirDeliver } from "../maildir/deliver.ts";

export const applet: Applet = {
  name: "deliver",
  summary: "deliver one message from stdin into a Maildir (tmp, fsync, link into new)",
  usage: "deliver MAILDIR < message",
  async run(args, ctx) {
    if (args.length !== 1 || args[0] === "") throw new UsageError(`${ctx.prefix} MAILDIR < message`);
    // Prints nothing on success; errors become "poppin deliver: fatal: ..." with exit 100 or 111.
    await maildirDeliver(args[0], 0);
    return EXIT_OK;
  },
};

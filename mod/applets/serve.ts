import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../cli/errors.ts";

// Placeholder until its issue lands: says so plainly instead of pretending to work.
export const applet: Applet = {
  name: "serve",
  summary: "(not built yet)",
  usage: "serve ...",
  async run(_args, ctx) {
    fatal(ctx, "this applet is not built yet");
    return EXIT_TEMP;
  },
};

import type { Applet } from "../cli/applet.ts";
import { wallClock } from "../sys/clock.ts";
import { LineStamper } from "../tai64/stamp.ts";
import { stampFor } from "../tai64/label.ts";
import { filterStdin, ignoredFileWarnings } from "../tai64/read_input.ts";
import { warning } from "../cli/context.ts";

/**
 * daemontools' tai64n: each line of stdin to stdout with the TAI64N label of the moment
 * it was read and a space in front. Arguments are ignored, as the original does; a read
 * or write error exits 111 silently, as the original does.
 */
export const applet: Applet = {
  name: "tai64n",
  summary: "prefix each line of stdin with a TAI64N timestamp",
  usage: "tai64n < input",
  async run(args, ctx) {
    for (const text of ignoredFileWarnings(ctx.classic ? ctx.calledAs : `poppin ${ctx.applet}`, args)) warning(ctx, text);
    const stamper = new LineStamper();
    return filterStdin((chunk) => stamper.feed(chunk, stampFor(wallClock())));
  },
};

import type { Applet } from "../cli/applet.ts";
import { localTime } from "../sys/localtime.ts";
import { LabelLocalizer } from "../tai64/local.ts";
import { filterStdin, ignoredFileWarnings } from "../tai64/read_input.ts";
import { warning } from "../cli/context.ts";

/**
 * daemontools' tai64nlocal: TAI64N labels at line starts to local time (TZ honoured),
 * other bytes unchanged. Arguments are ignored; a read or write error exits 111.
 */
export const applet: Applet = {
  name: "tai64nlocal",
  summary: "convert TAI64N labels at line starts to local time",
  usage: "tai64nlocal < input",
  async run(args, ctx) {
    for (const text of ignoredFileWarnings(ctx.classic ? ctx.calledAs : `poppin ${ctx.applet}`, args)) warning(ctx, text);
    const localizer = new LabelLocalizer(localTime);
    return filterStdin((chunk) => localizer.feed(chunk));
  },
};

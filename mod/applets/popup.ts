import type { Applet } from "../cli/applet.ts";
import { usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_USAGE } from "../cli/errors.ts";
import { writeStdout } from "../cli/io.ts";
import { runChain } from "../pop3/chain.ts";
import { apopOffered, timeoutInvalid, timeoutMs } from "../pop3/config.ts";
import { FdChannel } from "../pop3/fd_channel.ts";
import { servePopup } from "../pop3/popup_server.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { logValue } from "../pop3/log_value.ts";

/** qmail-popup exits 1 on a usage error (its die()). */
const EXIT_POPUP_USAGE = 1;

export const applet: Applet = {
  name: "popup",
  summary: "POP3 login (qmail-popup): USER/PASS/APOP, then runs checkpassword with fd 3",
  usage: "popup hostname subprogram [args...]",
  async run(args, ctx) {
    const [hostname, ...chain] = args;
    if (hostname === undefined || hostname === "" || chain.length === 0) {
      writeStdout(err(TEXT.usagePopup));
      usage(ctx, `${ctx.classic ? ctx.calledAs : ctx.prefix} hostname subprogram [args...]`);
      return ctx.classic ? EXIT_POPUP_USAGE : EXIT_USAGE;
    }
    if (timeoutInvalid(ctx.env)) warning(ctx, `ignoring POPPIN_TIMEOUT=${logValue(ctx.env.POPPIN_TIMEOUT ?? "")}: not a positive number of seconds`);
    const rip = logValue(ctx.env.TCPREMOTEIP ?? "unknown");
    await servePopup(new FdChannel(0, 1, timeoutMs(ctx.env)), {
      timestamp: `<${process.pid}.${Math.floor(Date.now() / 1000)}@${hostname}>`,
      offerApop: apopOffered(ctx.env),
      authenticate: (data) => runChain(chain, data, ctx.env),
      onFailure(user, failure, detail) {
        const what = failure === "rejected" ? "authorization failed" : "authorization temporary failure";
        warning(ctx, `${what} rip=${rip} user=${logValue(user)}${failure === "rejected" ? "" : ` why=${logValue(detail)}`}`);
      },
    });
    return EXIT_OK;
  },
};

import type { Applet } from "../cli/applet.ts";
import { warning } from "../cli/context.ts";
import { EXIT_OK, UsageError } from "../base/errors.ts";
import { writeAll } from "../base/io.ts";
import { wallClock } from "../sys/clock.ts";
import { runMultilog, type LogSignals } from "../log/multilog.ts";
import { longRunning } from "../sys/jit.ts";

/** multilog's deepsleep(5) after each failure before trying again. */
const PAUSE_MS = 5000;

/**
 * daemontools' multilog: `log script` (or `multilog script`). Called as multilog with
 * no script it does what multilog does (reads stdin, keeps nothing); `poppin log`
 * without a script is a usage error, since that is never what one means.
 */
export const applet: Applet = {
  name: "log",
  summary: "multilog: keep stdin in rotated log directories (t, +/-pattern, e, sSIZE, nNUM, !proc, =file, ./dir)",
  usage: "log script",
  async run(args, ctx) {
    if (args.length === 0 && !ctx.classic) throw new UsageError("poppin log script");
    process.umask(0o022);
    longRunning();
    const signals: LogSignals = { exitSoon: false, rotateNow: false };
    process.on("SIGTERM", () => { signals.exitSoon = true; });
    process.on("SIGALRM", () => { signals.rotateNow = true; });
    await runMultilog({
      script: args,
      input: 0,
      signals,
      hooks: {
        warn: (message) => warning(ctx, message),
        stderr: (bytes) => {
          try { writeAll(2, bytes); } catch { /* as multilog: a failing stderr does not stop logging */ }
        },
        clock: wallClock,
        pauseMs: PAUSE_MS,
      },
      yieldToEvents: () => new Promise((resolve) => setImmediate(resolve)),
    });
    return EXIT_OK;
  },
};

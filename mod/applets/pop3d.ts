import type { Applet } from "../cli/applet.ts";
import { fatal, info, usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError } from "../cli/errors.ts";
import { writeStdout } from "../cli/io.ts";
import { maildirTmpCleanup } from "../maildir/clean.ts";
import { timeoutInvalid, timeoutMs } from "../pop3/config.ts";
import { parsePop3dArgs } from "../pop3/pop3d_args.ts";
import { FdChannel } from "../pop3/fd_channel.ts";
import { logValue } from "../pop3/log_value.ts";
import { MaildirMailbox } from "../pop3/maildir_mailbox.ts";
import type { Mailbox } from "../pop3/mailbox.ts";
import { SpoolBusy } from "../mbox/mbox_mailbox.ts";
import { IN_USE_TEXT, SPOOL_FAILED_TEXT, openSpoolMailbox } from "../mbox/open_spool_mailbox.ts";
import { servePop3d } from "../pop3/pop3d_server.ts";
import { pop3dPolicy, sessionOptions, sessionStatistics, startSession } from "../policy/pop3d_policy.ts";
import type { Policy } from "../policy/resolve.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { withPipelinedInput } from "../standalone/pipelined_input.ts";

export const applet: Applet = {
  name: "pop3d",
  summary: "POP3 mailbox service on a Maildir (qmail-pop3d), after checkpassword",
  usage: "pop3d [--compat=qmail|rfc] maildir | pop3d [mbox options] mbox:[spool]",
  async run(args, ctx) {
    const parsed = parsePop3dArgs(args, ctx.env);
    if (typeof parsed === "string") {
      writeStdout(err(TEXT.noMaildir));
      const name = ctx.classic ? ctx.calledAs : ctx.prefix;
      usage(ctx, `${name} [--compat=qmail|rfc] maildir | ${name} [mbox options] mbox:[spool]`);
      return EXIT_USAGE;
    }
    const { compat, isMbox, mbox, mailbox: dir } = parsed;
    if (timeoutInvalid(ctx.env)) warning(ctx, `ignoring POPPIN_TIMEOUT=${logValue(ctx.env.POPPIN_TIMEOUT ?? "")}: not a positive number of seconds`);
    const who = `user=${logValue(ctx.env.USER ?? "-")} rip=${logValue(ctx.env.TCPREMOTEIP ?? "unknown")}`;
    let policy: Policy;
    try {
      policy = pop3dPolicy(ctx.env); // what popup exported, or POPPIN_CONFIG (mod/policy)
      if (!isMbox) {
        const start = await startSession(dir, policy, ctx.env);
        if (start.kind === "refuse") {
          writeStdout(err(start.reply));
          warning(ctx, `${start.log} ${who}`);
          return EXIT_OK;
        }
        for (const note of start.notes) info(ctx, `${note} ${who}`);
        for (const problem of start.warnings) warning(ctx, `${problem} ${who}`);
      }
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      writeStdout(err(TEXT.scanFailed));
      fatal(ctx, `${e.message} ${who}`);
      return EXIT_TEMP;
    }
    let mailbox: Mailbox;
    try {
      if (isMbox) {
        mailbox = openSpoolMailbox(dir, mbox, { user: ctx.env.USER, home: ctx.env.HOME, cwd: process.cwd() }, (m) => warning(ctx, `${m} ${who}`));
      } else {
        try {
          maildirTmpCleanup(dir); // qmail-pop3d's maildir_clean(): tmp/ files older than 36 hours
        } catch {
          // a missing Maildir is reported by the scan below
        }
        mailbox = new MaildirMailbox(dir, { compat, onWarning: (m) => warning(ctx, `${m} ${who}`) });
      }
    } catch (e) {
      if (e instanceof SpoolBusy) {
        writeStdout(err(IN_USE_TEXT));
        warning(ctx, `${e.message} ${who}`);
        return EXIT_TEMP;
      }
      if (!(e instanceof PoppinError)) throw e;
      writeStdout(err(isMbox ? SPOOL_FAILED_TEXT : e.exitCode === EXIT_TEMP ? TEXT.scanFailed : TEXT.noMaildir));
      fatal(ctx, `${e.message} ${who}`);
      return EXIT_TEMP;
    }
    // withPipelinedInput: commands serve --inline read before handing the connection over (mod/standalone).
    const stats = servePop3d(withPipelinedInput(new FdChannel(0, 1, timeoutMs(ctx.env)), ctx.env), mailbox, sessionOptions(policy, { qmailLast: compat === "qmail" }));
    for (const problem of stats.problems) warning(ctx, `${problem} ${who}`);
    const statistics = sessionStatistics(policy, stats, ctx.env);
    if (statistics !== undefined) info(ctx, statistics);
    info(ctx, `end=${stats.end} ${who} messages=${stats.messages} retrieved=${stats.retrieved} octets=${stats.octetsSent} deleted=${stats.deleted}${stats.unremoved ? ` unremoved=${stats.unremoved}` : ""}`);
    return EXIT_OK;
  },
};

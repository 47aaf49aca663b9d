import type { Applet } from "../cli/applet.ts";
import { fatal, info, usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, describeSysError } from "../cli/errors.ts";
import { ENTER_HOME_VARIABLE } from "../auth/session.ts";
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
import { mailboxWithExpire, pop3dPolicy, sessionOptions, sessionStatistics, startSession } from "../policy/pop3d_policy.ts";
import { RETRIEVAL_RECORD_NAME } from "../pop3/expire.ts";
import { spoolPathFor } from "../mbox/spool_path.ts";
import type { MboxSettings } from "../mbox/options.ts";
import { basename, join } from "node:path";
import type { Policy } from "../policy/resolve.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { withPipelinedInput } from "../standalone/pipelined_input.ts";

/**
 * The exit status once pop3d has answered the login with -ERR: 0, as qmail-pop3d's die()
 * exits. popup (ours or qmail-popup) answers a non-zero status with an -ERR of its own, and
 * the client would get two answers to one PASS; the log line says what went wrong.
 */
const ANSWERED = EXIT_OK;

/**
 * Where EXPIRE keeps the retrieval days: in the Maildir; for an mbox spool in the owner's
 * home (never in a shared spool directory where another user could plant it).
 */
function retrievalRecordFor(arg: string, isMbox: boolean, settings: MboxSettings, env: NodeJS.ProcessEnv): string | undefined {
  if (!isMbox) return join(arg, RETRIEVAL_RECORD_NAME);
  const spool = spoolPathFor(arg, settings.layout, { user: env.USER, home: env.HOME, cwd: process.cwd() });
  return spool === undefined || env.HOME === undefined || env.HOME === "" ? undefined : join(env.HOME, `.${basename(spool)}.${RETRIEVAL_RECORD_NAME}`);
}

/** qmail-pop3d's die(): _exit(0) (qmail-1.03 qmail-pop3d.c), after its -ERR line. */
const EXIT_QMAIL_POP3D_DIE = 0;

export const applet: Applet = {
  name: "pop3d",
  summary: "POP3 mailbox service on a Maildir (qmail-pop3d), after checkpassword",
  usage: [
    "pop3d [--compat=qmail|rfc] maildir | pop3d [mbox options] mbox:[spool]",
    "",
    "qmail-pop3d: the POP3 transaction state, run by checkpassword in the user's home. maildir is",
    "relative to it; an argument starting with mbox: names an mbox spool instead (mbox: alone is",
    "the user's spool, mbox:/path that file, mbox:~/name under $HOME).",
    "  --compat=qmail|rfc     qmail: qmail-pop3d's LF sizes, mtime order and LAST (POPPIN_COMPAT)",
    "mbox options (before mbox:...):",
    "  --spool-dir=DIR        where mbox: finds USER's spool (default /var/mail)",
    "  --hash-spool=0|1|2     Qpopper's hashed spool directories",
    "  --home-dir-mail=NAME   the spool is $HOME/NAME",
    "  --temp-dir=DIR         where the journal and the scan cache live",
    "  --update=auto|rename|inplace  how QUIT rewrites the spool (default auto)",
    "  --no-status-update     do not mark retrieved messages Status: RO",
    "  --no-cache             keep no scan cache",
    "  --lock=dotlock,fcntl,flock     which locks to take (default dotlock,fcntl)",
    "  --lock-timeout=S       how long to wait for a delivery's lock (default 10)",
    "  --lock-stale=S         a dot-lock older than this is broken (default 300)",
  ].join("\n"),
  async run(args, ctx) {
    const parsed = parsePop3dArgs(args, ctx.env);
    if (typeof parsed === "string") {
      // qmail-pop3d answers the client and exits 0 (its die_nomaildir); poppin pop3d exits 100.
      writeStdout(err(TEXT.noMaildir));
      const name = ctx.classic ? ctx.calledAs : ctx.prefix;
      usage(ctx, `${name} [--compat=qmail|rfc] maildir | ${name} [mbox options] mbox:[spool]`);
      return ctx.classic ? EXIT_QMAIL_POP3D_DIE : EXIT_USAGE;
    }
    const { compat, isMbox, mbox, mailbox: dir } = parsed;
    if (ctx.env[ENTER_HOME_VARIABLE] !== undefined) {
      // Started by serve --inline (root) in "/": into the home now, as the user (checkpassword's chdir).
      delete ctx.env[ENTER_HOME_VARIABLE];
      try {
        process.chdir(ctx.env.HOME ?? "");
      } catch (e) {
        writeStdout(err(TEXT.authTemp));
        fatal(ctx, `unable to chdir to ${logValue(ctx.env.HOME ?? "")}: ${describeSysError(e)} user=${logValue(ctx.env.USER ?? "-")} rip=${logValue(ctx.env.TCPREMOTEIP ?? "unknown")}`);
        return ANSWERED;
      }
    }
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
      return ANSWERED;
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
      mailbox = mailboxWithExpire(mailbox, policy, retrievalRecordFor(dir, isMbox, mbox, ctx.env));
    } catch (e) {
      if (e instanceof SpoolBusy) {
        writeStdout(err(IN_USE_TEXT));
        warning(ctx, `${e.message} ${who}`);
        return ANSWERED;
      }
      if (!(e instanceof PoppinError)) throw e;
      writeStdout(err(isMbox ? SPOOL_FAILED_TEXT : e.exitCode === EXIT_TEMP ? TEXT.scanFailed : TEXT.noMaildir));
      fatal(ctx, `${e.message} ${who}`);
      return ANSWERED;
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

import type { Applet } from "../cli/applet.ts";
import { fatal, info, usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_USAGE, PoppinError, describeSysError } from "../base/errors.ts";
import { AuthRefused } from "../auth/request.ts";
import { checkRealHome } from "../auth/home_base.ts";
import { ENV, envValue } from "../base/env.ts";
import { BECOME_VARIABLE, becomeStartedAccount, ENTER_HOME_VARIABLE } from "../auth/session.ts";
import { writeStdout } from "../base/io.ts";
import { logValue } from "../base/log_value.ts";
import { clientAddressKnown } from "../base/ucspi_env.ts";
import { timeoutMs, timeoutWarning } from "../pop3/config.ts";
import { armWatchdog } from "../sys/watchdog.ts";
import { parsePop3dArgs } from "../session/pop3d_args.ts";
import { FdChannel } from "../pop3/fd_channel.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { runMailboxSession } from "../session/mailbox_session.ts";
import { fdTransactionChannel } from "../session/transaction_loop.ts";
import { withPipelinedInput } from "../session/pipelined_input.ts";
import { drainPendingInput } from "../sys/poll.ts";

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
    "  --uidl-format=FORMAT   the UIDLs Dovecot showed (its pop3_uidl_format over X-UID)",
  ].join("\n"),
  async run(args, ctx) {
    const become = ctx.env[BECOME_VARIABLE];
    if (become !== undefined) {
      // Started by serve --inline as root: the account's groups, gid and uid before anything
      // else (its arguments and configuration are read with the user's rights, as after checkpassword).
      delete ctx.env[BECOME_VARIABLE];
      try {
        becomeStartedAccount(become, ctx.env, process.geteuid?.() ?? 0);
      } catch (e) {
        writeStdout(err(TEXT.authTemp));
        // The message is ours (logLine keeps it one line); the values from the environment are escaped.
        fatal(ctx, `${e instanceof PoppinError || e instanceof AuthRefused ? e.message : describeSysError(e)} user=${logValue(ctx.env.USER ?? "-")} rip=${logValue(ctx.env.TCPREMOTEIP ?? "unknown")}`);
        return EXIT_OK; // answered: see below
      }
    }
    // An empty TCPREMOTEIP (a broken environment, never tcpserver) counts as unset: rip=unknown.
    clientAddressKnown(ctx.env);
    const parsed = parsePop3dArgs(args, ctx.env);
    if (typeof parsed === "string") {
      // qmail-pop3d answers the client and exits 0 (its die_nomaildir); poppin pop3d exits 100.
      writeStdout(err(TEXT.noMaildir));
      drainPendingInput(0);
      const name = ctx.classic ? ctx.calledAs : ctx.prefix;
      usage(ctx, `${name} [--compat=qmail|rfc] maildir | ${name} [mbox options] mbox:[spool]`);
      // More than a missing argument: say which (a bad --compat, a Dovecot %u in the Maildir).
      if (args.length > 0) fatal(ctx, parsed);
      return ctx.classic ? EXIT_QMAIL_POP3D_DIE : EXIT_USAGE;
    }
    // This process serves one session: its own work between two exchanges with the client is
    // timed too, so a Maildir on a filesystem that never answers ends it (mod/sys/watchdog.ts).
    const watchdog = armWatchdog(timeoutMs(ctx.env));
    const enter = ctx.env[ENTER_HOME_VARIABLE];
    if (enter !== undefined) {
      // Started by serve --inline (root) in "/": into the home now, as the user (checkpassword's
      // chdir), and where it led checked here (POPPIN_HOME_BASE; the value is the account's kind).
      delete ctx.env[ENTER_HOME_VARIABLE];
      try {
        process.chdir(ctx.env.HOME ?? "");
        checkRealHome({ login: ctx.env.USER ?? "", home: ctx.env.HOME ?? "", source: enter === "virtual" ? "virtual" : "system" }, process.cwd(), envValue(ctx.env, ENV.homeBase));
      } catch (e) {
        writeStdout(err(TEXT.authTemp));
        const why = e instanceof PoppinError || e instanceof AuthRefused ? logValue(e.message) : `unable to chdir to ${logValue(ctx.env.HOME ?? "")}: ${describeSysError(e)}`;
        fatal(ctx, `${why} user=${logValue(ctx.env.USER ?? "-")} rip=${logValue(ctx.env.TCPREMOTEIP ?? "unknown")}`);
        return EXIT_OK; // answered: see below
      }
    }
    const badTimeout = timeoutWarning(ctx.env);
    if (badTimeout !== undefined) warning(ctx, badTimeout);
    const log = { info, warning, fatal } as const;
    await runMailboxSession({ mailbox: parsed.mailbox, compat: parsed.compat, mbox: parsed.mbox, env: ctx.env }, {
      log: (kind, text) => log[kind](ctx, text),
      refuse: (reply) => writeStdout(reply),
      // withPipelinedInput: commands serve --inline read before handing the connection over (mod/session/pipelined_input.ts).
      channel: () => fdTransactionChannel(withPipelinedInput(new FdChannel(0, 1, timeoutMs(ctx.env), watchdog), ctx.env)),
    });
    // Refused or failed, the client got its -ERR and exit 0 follows, as qmail-pop3d's die(): popup
    // (ours or qmail-popup) answers a non-zero status with an -ERR of its own, and the client
    // would get two answers to one PASS; the log line says what went wrong.
    // What the client pipelined past our last answer (QUIT after a refused PASS) is read and
    // dropped, so the connection ends after that answer instead of a reset that may discard it.
    drainPendingInput(0);
    return EXIT_OK;
  },
};

/**
 * One mailbox session, the part after the login that every host runs the same way:
 * the start checks (the [IN-USE] session lock, LOGIN-DELAY, bulletins, log-login; mod/policy), opening
 * the Maildir (qmail's tmp/ cleanup first) or the mbox spool, the greeting, the TRANSACTION
 * loop, the UPDATE state, and one report: the problems, the statistics line and the `end=`
 * line. A host (the pop3d applet over fds 0 and 1, serve --inline over a socket) gives the
 * channel, where an early -ERR goes and where log lines go; it never repeats a step.
 * The session lock is released when the session ends, whoever hosts it.
 */
import { closeSync } from "node:fs";
import { basename, isAbsolute, join } from "../base/posix_path.ts";
import { EXIT_TEMP, PoppinError } from "../base/errors.ts";
import type { maildirScan } from "../maildir/scan.ts";
import { maildirTmpCleanup } from "../maildir/clean.ts";
import { SpoolBusy } from "../mbox/lock_names.ts";
import { defaultMboxSettings, type MboxSettings } from "../mbox/options.ts";
import { isMboxArgument, spoolPathFor } from "../mbox/spool_path.ts";
import { RETRIEVAL_RECORD_NAME } from "../pop3/expire.ts";
import { logValue } from "../base/log_value.ts";
import type { Mailbox } from "../pop3/mailbox.ts";
import { MaildirMailbox, type Compat } from "../pop3/maildir_mailbox.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { mailboxWithExpire, pop3dPolicy, sessionOptions, sessionStatistics, startSession, startSpoolSession } from "../policy/pop3d_policy.ts";
import { spoolLastLoginFile } from "../policy/login_delay.ts";
import { offeredFromEnvironment } from "../sasl/login_env.ts";
import type { Pop3dStats } from "./_stats.ts";
import { runAsync, transactionLoop, type TransactionChannel } from "./transaction_loop.ts";

export interface MailboxSessionSpec {
  /** pop3d's mailbox argument: a Maildir, or `mbox:...` for an mbox spool. */
  mailbox: string;
  /** Where a relative Maildir is (undefined: the current directory, as pop3d after checkpassword's chdir). */
  home?: string;
  compat: Compat;
  /** pop3d's mbox options (defaults when none were given). */
  mbox?: MboxSettings;
  /** The session's environment (USER, HOME, TCPREMOTEIP, what popup exported). */
  env: NodeJS.ProcessEnv;
  /** The Maildir listing function (serve --inline remembers big listings). */
  scan?: typeof maildirScan;
}

export interface SessionHost {
  /** One log line of the session's program (pop3d), without its prefix. */
  log(kind: "info" | "warning" | "fatal", text: string): void;
  /** An answer instead of the greeting (-ERR), sent at once. */
  refuse(reply: Uint8Array): void | Promise<void>;
  /** The client connection for the TRANSACTION state, once the mailbox is open. */
  channel(): TransactionChannel;
  /** After the last answer: waits until it went out (a slow reader that pipelined QUIT still gets everything). */
  sent?(): Promise<void>;
}

/**
 * served: the TRANSACTION state ran; refused: the policy or a busy mailbox answered -ERR
 * (the client got its answer); failed: the mailbox could not be opened or scanned (-ERR, a fatal line).
 */
export type SessionEnd = { kind: "served"; stats: Pop3dStats } | { kind: "refused" } | { kind: "failed"; exitCode: number };

/**
 * Where EXPIRE keeps the retrieval days: in the Maildir; for an mbox spool in the owner's
 * home (never in a shared spool directory where another user could plant it).
 */
function retrievalRecordFor(arg: string, isMbox: boolean, settings: MboxSettings, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (!isMbox) return join(arg, RETRIEVAL_RECORD_NAME);
  const spool = spoolPathFor(arg, settings.layout, { user: env.USER, home: env.HOME, cwd });
  return spool === undefined || env.HOME === undefined || env.HOME === "" ? undefined : join(env.HOME, `.${basename(spool)}.${RETRIEVAL_RECORD_NAME}`);
}

export async function runMailboxSession(spec: MailboxSessionSpec, host: SessionHost): Promise<SessionEnd> {
  const { env } = spec;
  const isMbox = isMboxArgument(spec.mailbox);
  const mbox = spec.mbox ?? defaultMboxSettings();
  const cwd = spec.home ?? process.cwd();
  const dir = isMbox || spec.home === undefined || isAbsolute(spec.mailbox) ? spec.mailbox : join(spec.home, spec.mailbox);
  const who = `user=${logValue(env.USER ?? "-")} rip=${logValue(env.TCPREMOTEIP ?? "unknown")}`;
  let lockFd: number | undefined;
  const release = () => {
    if (lockFd !== undefined) closeSync(lockFd);
    lockFd = undefined;
  };
  try {
    let policy;
    try {
      policy = pop3dPolicy(env); // what popup exported, or POPPIN_CONFIG (mod/policy)
      let start;
      if (!isMbox) start = await startSession(dir, policy, env, (fd) => (lockFd = fd));
      else {
        const spool = spoolPathFor(dir, mbox.layout, { user: env.USER, home: env.HOME, cwd });
        start = startSpoolSession(policy, env, spool, spool === undefined || env.HOME === undefined || env.HOME === "" ? undefined : spoolLastLoginFile(env.HOME, basename(spool)));
      }
      if (start.kind === "refuse") {
        release();
        await host.refuse(err(start.reply));
        host.log("warning", `${start.log} ${who}`);
        return { kind: "refused" };
      }
      for (const note of start.notes) host.log("info", `${note} ${who}`);
      for (const problem of start.warnings) host.log("warning", `${problem} ${who}`);
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      release();
      await host.refuse(err(TEXT.scanFailed));
      host.log("fatal", `${e.message} ${who}`);
      return { kind: "failed", exitCode: e.exitCode };
    }
    let mailbox: Mailbox;
    try {
      if (isMbox) {
        // The mbox code is loaded for the first mbox session: a Maildir session (popup's, once
        // per login in the classic chain) does not evaluate it.
        const { openSpoolMailbox } = await import("../mbox/open_spool_mailbox.ts");
        mailbox = openSpoolMailbox(dir, mbox, { user: env.USER, home: env.HOME, cwd }, (m) => host.log("warning", `${m} ${who}`));
      } else {
        try {
          maildirTmpCleanup(dir); // qmail-pop3d's maildir_clean(): tmp/ files older than 36 hours
        } catch {
          // a missing Maildir is reported by the scan below
        }
        mailbox = new MaildirMailbox(dir, { compat: spec.compat, onWarning: (m) => host.log("warning", `${m} ${who}`), scan: spec.scan });
      }
      mailbox = mailboxWithExpire(mailbox, policy, retrievalRecordFor(dir, isMbox, mbox, env, cwd));
    } catch (e) {
      if (e instanceof SpoolBusy) {
        await host.refuse(err(TEXT.inUse));
        host.log("warning", `${e.message} ${who}`);
        return { kind: "refused" };
      }
      if (!(e instanceof PoppinError)) throw e;
      await host.refuse(err(isMbox ? TEXT.spoolFailed : e.exitCode === EXIT_TEMP ? TEXT.scanFailed : TEXT.noMaildir));
      host.log("fatal", `${e.message} ${who}`);
      return { kind: "failed", exitCode: e.exitCode };
    }
    const stats = await runAsync(transactionLoop(host.channel(), mailbox, sessionOptions(policy, { qmailLast: spec.compat === "qmail" }, offeredFromEnvironment(env))));
    await host.sent?.();
    for (const problem of stats.problems) host.log("warning", `${problem} ${who}`);
    const statistics = sessionStatistics(policy, stats, env);
    if (statistics !== undefined) host.log("info", statistics);
    host.log("info", `end=${stats.end} ${who} messages=${stats.messages} retrieved=${stats.retrieved} octets=${stats.octetsSent} deleted=${stats.deleted}${stats.unremoved ? ` unremoved=${stats.unremoved}` : ""}`);
    return { kind: "served", stats };
  } finally {
    release();
  }
}

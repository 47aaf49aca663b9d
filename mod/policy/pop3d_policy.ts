/**
 * What pop3d does with the policy around a session on a Maildir: the [IN-USE] session
 * lock, LOGIN-DELAY enforcement and bulletins before the scan; auto-delete, EXPIRE 0,
 * update-on-abort and the CAPA extras for the session itself; log-login and the
 * statistics line for the log. The applet calls these and prints what they return.
 */
import { deliverBulletins } from "../bulletin/bulletins.ts";
import { getpwnam } from "../sys/libc.ts";
import { capabilityLines } from "../pop3/capabilities.ts";
import { ExpiringMailbox } from "../pop3/expire.ts";
import type { Mailbox } from "../pop3/mailbox.ts";
import type { Pop3dServeOptions, Pop3dStats } from "../pop3/transaction.ts";
import { AUTHORIZATION_TABLE } from "../pop3/authorization.ts";
import { TRANSACTION_TABLE } from "../pop3/transaction.ts";
import { TEXT, loginDelayText } from "../pop3/responses.ts";
import { checkLoginDelay, maildirLastLoginFile } from "./login_delay.ts";
import { loginLine, statisticsLine } from "./log_format.ts";
import { MailboxInUse, lockMailboxSession } from "./mailbox_lock.ts";
import { resolvePolicy, type Policy } from "./resolve.ts";
import { logValue } from "../base/log_value.ts";
import { basename, dirname, join } from "../base/posix_path.ts";
import { lstatOrUndefined } from "../sys/owned_file.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The policy as pop3d sees it: from the environment popup exported (and POPPIN_CONFIG). Throws UsageError/PermError. */
export function pop3dPolicy(env: Env): Policy {
  return resolvePolicy([], env).policy;
}

export type SessionStart =
  | { kind: "go"; notes: string[]; warnings: string[] }
  /** Refuse with this -ERR text (exit 0: the client got its answer). */
  | { kind: "refuse"; reply: string; log: string };

/**
 * Before the scan: lock, login delay, bulletins. Throws TempError for trouble. The session
 * lock's descriptor is held until the process ends, or handed to `holdLock` (a process that
 * serves many sessions closes it when this one ends, whatever the outcome).
 */
export async function startSession(dir: string, policy: Policy, env: Env, holdLock?: (fd: number) => void): Promise<SessionStart> {
  const notes: string[] = [];
  const warnings: string[] = [];
  if (policy.mailboxLock === "session") {
    try {
      const fd = lockMailboxSession(dir); // held until the process ends
      if (fd !== undefined) holdLock?.(fd);
    } catch (e) {
      if (e instanceof MailboxInUse) return { kind: "refuse", reply: TEXT.inUse, log: "mailbox in use" };
      throw e;
    }
  }
  if (policy.loginDelaySeconds !== undefined && policy.loginDelaySeconds > 0) {
    const wait = checkLoginDelay(maildirLastLoginFile(dir), policy.loginDelaySeconds);
    if (wait > 0) return { kind: "refuse", reply: loginDelayText(wait), log: `login delay wait=${wait}` };
  }
  if (policy.bulletinDir !== undefined) {
    const gids = [process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])];
    // A bulletin problem never stops the login: the mail matters more than the notice.
    try {
      const user = env.USER ?? "";
      // A member list names system accounts: it counts for this session only when USER is the
      // account it runs as (a system user), never for a virtual user who shares that name.
      const nameIsAccount = () => {
        try {
          return getpwnam(user)?.uid === process.getuid?.();
        } catch {
          return false; // unknown: the gids alone decide
        }
      };
      const n = await deliverBulletins(policy.bulletinDir, dir, policy.maxBulletins, { user, gids, nameIsAccount });
      if (n > 0) notes.push(`bulletins=${n}`);
    } catch (e) {
      warnings.push(`bulletins not delivered: ${(e as Error).message}`);
    }
  }
  if (policy.logLogin !== undefined) notes.push(loginLine(policy.logLogin, env));
  return { kind: "go", notes, warnings };
}

/**
 * Before an mbox spool is read: LOGIN-DELAY (recorded in `lastLoginFile`, in the owner's home;
 * undefined when there is no home: not enforceable) and log-login, as for a Maildir. A spool
 * has no session lock (sessions may overlap, mod/mbox) and takes no bulletins: configured
 * bulletins are reported as not delivered rather than dropped without a word.
 */
export function startSpoolSession(policy: Policy, env: Env, spool: string | undefined, lastLoginFile: string | undefined): SessionStart {
  const notes: string[] = [];
  const warnings: string[] = [];
  const leftover = spool === undefined ? undefined : qpopperLeftover(spool);
  if (leftover !== undefined) warnings.push(leftover);
  if (policy.loginDelaySeconds !== undefined && policy.loginDelaySeconds > 0 && lastLoginFile !== undefined) {
    const wait = checkLoginDelay(lastLoginFile, policy.loginDelaySeconds);
    if (wait > 0) return { kind: "refuse", reply: loginDelayText(wait), log: `login delay wait=${wait}` };
  }
  if (policy.bulletinDir !== undefined) warnings.push(`bulletins not delivered: ${logValue(spool ?? "the mail spool")} is an mbox spool; poppin delivers bulletins into Maildirs only`);
  if (policy.logLogin !== undefined) notes.push(loginLine(policy.logLogin, env));
  return { kind: "go", notes, warnings };
}

/**
 * Qpopper outside server mode moves a user's mail into `.USER.pop` beside the spool for the
 * session and back at its end; one left by a crash holds mail Qpopper would have put back at the
 * next login and pop3d never reads. Said at every login until an administrator moves it back
 * (docs/migration.md), so the mail is not forgotten there.
 */
function qpopperLeftover(spool: string): string | undefined {
  const path = join(dirname(spool), `.${basename(spool)}.pop`);
  const st = lstatOrUndefined(path);
  if (st === undefined || !st.isFile() || st.size === 0) return undefined;
  return `${logValue(path)} holds ${st.size} octets of mail an unfinished Qpopper session left: append it to ${logValue(spool)} (see migration.md)`;
}

/** servePop3d's options from the policy. */
export function sessionOptions(policy: Policy, base: Pop3dServeOptions, offered?: readonly string[]): Pop3dServeOptions {
  const extras = policy.loginDelaySeconds !== undefined || policy.expire !== undefined || policy.shy || offered !== undefined;
  // USER and SASL as CAPA announced them before the login (RFC 2449 section 5: the same in both
  // states); without word from popup, USER and SASL PLAIN as a plain chain offers them.
  const clearText = offered === undefined || offered.includes("PLAIN");
  return {
    ...base,
    autoDelete: policy.autoDelete || policy.expire === 0,
    updateOnAbort: policy.updateOnAbort,
    capabilities: extras
      ? capabilityLines(AUTHORIZATION_TABLE, TRANSACTION_TABLE, {
        clearText, stls: false, loginDelay: policy.loginDelaySeconds, expire: policy.expire, shy: policy.shy,
        saslMechanisms: offered,
      })
      : undefined,
  };
}

/** The statistics line, when asked for. */
export function sessionStatistics(policy: Policy, stats: Pop3dStats, env: Env): string | undefined {
  if (!policy.statistics) return undefined;
  return statisticsLine({
    deleted: stats.deleted,
    deletedOctets: stats.deletedOctets ?? 0,
    left: stats.leftMessages ?? stats.messages - stats.deleted,
    leftOctets: stats.leftOctets ?? 0,
  }, env);
}

/**
 * The mailbox the session serves: with EXPIRE n > 0, one whose UPDATE also removes what was
 * retrieved n or more days ago, keeping its record in `record` (undefined: not enforced).
 */
export function mailboxWithExpire(mailbox: Mailbox, policy: Policy, record: string | undefined, now?: () => number): Mailbox {
  if (typeof policy.expire !== "number" || policy.expire <= 0 || record === undefined) return mailbox;
  return new ExpiringMailbox(mailbox, { days: policy.expire, record, now });
}

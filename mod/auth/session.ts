/**
 * After a successful check: become the account (groups, gid, uid when we are root),
 * chdir to its home, set USER, HOME, SHELL on top of the inherited environment
 * (TCPREMOTEIP and the rest stay), and replace this process with PROG, found on
 * PATH as djb's pathexec does. Nothing of checkpassword stays alive.
 */
import { ENV, envValue } from "../base/env.ts";
import { BEARER_VARIABLE } from "../sasl/bearer_names.ts";
import { TempError, describeSysError } from "../base/errors.ts";
import { execve, LibcError, pathexecRun, restoreDefaultSignals } from "../sys/libc.ts";
import { armWatchdog } from "../sys/watchdog.ts";
import { timeoutMs } from "../pop3/config.ts";
import { checkRealHome } from "./home_base.ts";
import type { Account } from "./account.ts";
import { AccountRefused, AuthRefused } from "./request.ts";
import { pathexecEnvironment } from "../daemontools/pathexec.ts";
import { IdSwitchError, switchIds } from "../sys/switch_ids.ts";

/**
 * Secrets the login reads from the environment, which PROG never needs. PROG runs as the
 * mailbox owner and, started by exec after the switch (pop3d in the chain), is the owner's to
 * read: /proc/PID/environ, as long as the session lasts.
 */
const LOGIN_SECRETS = [BEARER_VARIABLE, ENV.oauthClientSecret.name];

/**
 * The environment PROG gets: ours without the login's secrets, plus the account's USER, HOME
 * and SHELL, set in that order through pathexec as djb's checkpassword sets them (so `env`
 * lists them as it does).
 */
export function sessionEnvironment(base: NodeJS.ProcessEnv, account: Account): Record<string, string> {
  // The token popup handed checkpassword (mod/sasl/oauthbearer.ts), and the credentials
  // checkpassword shows the introspection endpoint, go no further.
  const inherited: NodeJS.ProcessEnv = { ...base };
  for (const name of LOGIN_SECRETS) inherited[name] = undefined;
  return pathexecEnvironment(inherited, [["USER", account.login], ["HOME", account.home], ["SHELL", account.shell]]);
}

/**
 * Switches to the account. As root: supplementary groups (initgroups for system accounts,
 * just the gid for virtual ones), then gid, then uid, through sys/switch_ids.ts (any id Linux
 * allows, up to 4294967294). Not root: nothing to switch; authenticate() already refused any
 * other uid.
 */
export function becomeAccount(account: Account, euid: number): void {
  if (euid !== 0) {
    if (account.uid !== euid) throw new AuthRefused(`uid ${account.uid} is not ours`);
    return;
  }
  try {
    switchIds({ uid: account.uid, gid: account.gid, groups: account.source === "system" ? { initgroupsFor: account.login } : { list: [account.gid] } });
  } catch (err) {
    if (!(err instanceof IdSwitchError)) throw err;
    if (err.step === "groups") throw new TempError(`unable to set groups for ${account.login}: ${describeSysError(err)}`);
    // djb's prot_gid/prot_uid failing is exit 1; keep it, with a line for the administrator.
    throw new AccountRefused(`unable to switch to uid ${account.uid} gid ${account.gid}: ${describeSysError(err)}`, Buffer.from(account.login));
  }
}

/**
 * Set by serve --inline (root) in the environment of a user process it starts in "/": pop3d
 * then changes to $HOME itself, with the user's rights, as checkpassword does after its uid
 * switch (a process started in the home by root would be there even where the user may not go).
 */
export const ENTER_HOME_VARIABLE: string = ENV.enterHome.name;

/**
 * Set by serve --inline (root) in the environment of a user process it starts as root: the
 * account's "UID:GID". pop3d becomes that account first thing (becomeStartedAccount), with
 * the same switch as checkpassword and the mail workers: the process never serves as root.
 */
export const BECOME_VARIABLE: string = ENV.become.name;

/**
 * pop3d started by serve --inline: becomes the account named by `value` ("UID:GID"), USER
 * (the login, for initgroups) and ENTER_HOME_VARIABLE (the account's kind) in `env`. Not
 * root: the account must be ours already. uid 0 is refused, as a mail worker refuses it:
 * serve --inline serves no session as root, whichever process takes it. Throws AuthRefused
 * or TempError.
 */
export function becomeStartedAccount(value: string, env: NodeJS.ProcessEnv, euid: number): void {
  const m = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(value);
  if (m === null) throw new TempError(`${BECOME_VARIABLE} is not UID:GID: ${value}`);
  const [uid, gid] = [Number(m[1]), Number(m[2])];
  if (uid === 0) throw new TempError(`${BECOME_VARIABLE}=${value}: serve --inline serves no session as root (uid 0)`);
  if (euid !== 0 && uid !== euid) {
    throw new TempError(`${BECOME_VARIABLE}=${value}: pop3d runs as uid ${euid}, not root, and cannot switch (serve --inline sets it for the pop3d it starts as root)`);
  }
  const source = env[ENTER_HOME_VARIABLE] === "virtual" ? "virtual" : "system";
  becomeAccount({ login: env.USER ?? "", uid, gid, home: env.HOME ?? "", shell: env.SHELL ?? "", source, hash: undefined }, euid);
}

/**
 * checkpassword's chdir(home), as the user, after the uid switch. The session's watchdog is
 * armed first (mod/sys/watchdog.ts, with the session's read/write timeout from `env`): a home
 * on a filesystem that never answers (a hung NFS server, a user's FUSE mount) ends this process
 * instead of holding it, its connection and its slot in serve's -c for good. Then, for a
 * virtual user under POPPIN_HOME_BASE, where the home led (home_base.ts).
 */
export function enterHome(account: Account, env: NodeJS.ProcessEnv): void {
  armWatchdog(timeoutMs(env));
  try {
    process.chdir(account.home);
  } catch (err) {
    throw new TempError(`unable to chdir to ${account.home}: ${describeSysError(err)}`);
  }
  checkRealHome(account, process.cwd(), envValue(env, ENV.homeBase));
}

/** Runs PROG in place of this process; returns only by throwing TempError ("unable to run"). */
export function execProgram(argv: readonly string[], env: Record<string, string>): never {
  const name = argv[0];
  restoreDefaultSignals();
  try {
    return pathexecRun(name, env.PATH, (file) => execve(file, argv, env));
  } catch (err) {
    if (!(err instanceof LibcError)) throw err;
    throw new TempError(`unable to run ${name}: ${describeSysError(err)}`);
  }
}

/**
 * A mail worker (`poppin serve --mail-worker`, started by serve --inline as root ahead of
 * need, with a control socket as fd 3): it waits, as root, having read nothing from any
 * client, until serve hands it one session after that session's password check: the
 * account, the session's environment and the client connection (a descriptor passed with
 * SCM_RIGHTS). It then switches irreversibly to the user (groups, gid, uid; it checks that
 * setuid(0) now fails), closes the control socket, enters the user's home, makes the
 * connection its fds 0 and 1 and runs pop3d's own applet, exactly as checkpassword's exec
 * of pop3d would: one session per worker, then it exits with pop3d's status. Its stderr is
 * a pipe to serve (log lines are forwarded as a user process's, mod/standalone/user_log.ts).
 */
import { sessionEnvironment, becomeAccount, enterHome } from "../auth/session.ts";
import type { Account } from "../auth/account.ts";
import { applet as pop3d } from "../applets/pop3d.ts";
import type { AppletContext } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, describeSysError } from "../cli/errors.ts";
import { writeAll, writeStderr } from "../cli/io.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { dup2 } from "../sys/fd.ts";
import { closeDescriptor, receiveWithDescriptor } from "../sys/fd_passing.ts";

/** serve's argument that starts a mail worker (not a tcpserver option). */
export const MAIL_WORKER_FLAG = "--mail-worker";
/** The control socket's descriptor in a worker. */
export const MAIL_WORKER_CONTROL_FD = 3;
/** Largest hand-over message (account, environment, pop3d's arguments). */
export const MAIL_WORKER_MESSAGE_MAX = 60_000;

/** What serve sends with the connection. */
export interface MailWorkerJob {
  account: Pick<Account, "login" | "uid" | "gid" | "home" | "shell" | "source">;
  /** The session's environment before USER/HOME/SHELL (TCPREMOTEIP ..., POPPIN_* policy). */
  env: Record<string, string>;
  /** pop3d's prefix ("poppin pop3d" or "qmail-pop3d") and its arguments (options and the mailbox). */
  pop3dPrefix: string;
  pop3dArgs: string[];
  execPath: string;
}

/** The job as sent (JSON), or a reason it cannot be. */
export function encodeJob(job: MailWorkerJob): Uint8Array | string {
  const bytes = Buffer.from(JSON.stringify(job), "utf8");
  return bytes.length > MAIL_WORKER_MESSAGE_MAX ? `the session's environment is too large (${bytes.length} octets)` : bytes;
}

function isJob(value: unknown): value is MailWorkerJob {
  const j = value as MailWorkerJob;
  const a = j?.account;
  return typeof j === "object" && j !== null && typeof a === "object" && a !== null &&
    typeof a.login === "string" && Number.isInteger(a.uid) && a.uid > 0 && Number.isInteger(a.gid) && a.gid >= 0 &&
    typeof a.home === "string" && a.home.startsWith("/") && typeof a.shell === "string" && (a.source === "system" || a.source === "virtual") &&
    typeof j.env === "object" && j.env !== null && Object.values(j.env).every((v) => typeof v === "string") &&
    typeof j.pop3dPrefix === "string" && Array.isArray(j.pop3dArgs) && j.pop3dArgs.every((v) => typeof v === "string") && typeof j.execPath === "string";
}

/** Whether this process can no longer become root (setuid(0) must fail, and no id is 0). */
function rootIsGone(): boolean {
  try {
    process.setuid!(0);
  } catch {
    return process.getuid!() !== 0 && process.geteuid!() !== 0 && process.getgid!() !== 0 && process.getegid!() !== 0;
  }
  return false;
}

/** The worker's life: wait for one session, become its user, serve it with pop3d, exit. */
export async function runMailWorker(): Promise<number> {
  const fatal = (text: string) => writeStderr(`mail worker: fatal: ${text}\n`);
  if (process.geteuid?.() !== 0) {
    fatal("a mail worker is started by serve --inline as root");
    return EXIT_TEMP;
  }
  const buffer = new Uint8Array(MAIL_WORKER_MESSAGE_MAX + 1);
  let got;
  try {
    got = receiveWithDescriptor(MAIL_WORKER_CONTROL_FD, buffer);
  } catch (e) {
    fatal(`unable to read the control socket: ${describeSysError(e)}`);
    return EXIT_TEMP;
  }
  if (got.length === 0 && got.fd === undefined) return EXIT_OK; // serve closed the pool: nothing to serve
  let job: unknown;
  try {
    job = JSON.parse(Buffer.from(buffer.subarray(0, got.length)).toString("utf8"));
  } catch {
    job = undefined;
  }
  closeDescriptor(MAIL_WORKER_CONTROL_FD);
  if (got.fd === undefined) {
    fatal("a session came without its connection");
    return EXIT_TEMP;
  }
  const client = got.fd;
  const refuse = (text: string): number => {
    // Still root here, but only writing to a socket serve gave us: no path is touched.
    try {
      writeAll(client, err(TEXT.authTemp));
    } catch {
      // the client is gone
    }
    fatal(text);
    return EXIT_TEMP;
  };
  if (!isJob(job)) return refuse("the session's description is malformed");
  const account: Account = { ...job.account, hash: undefined };
  try {
    becomeAccount(account, 0);
  } catch (e) {
    return refuse(`unable to switch to uid ${account.uid}: ${describeSysError(e)}`);
  }
  if (process.getuid!() !== account.uid || process.geteuid!() !== account.uid || !rootIsGone()) {
    return refuse(`still able to become root after switching to uid ${account.uid}: refusing to serve`);
  }
  // From here on nothing has more rights than the mailbox owner.
  try {
    enterHome(account);
    dup2(client, 0);
    dup2(client, 1);
    if (client > 2) closeDescriptor(client);
  } catch (e) {
    return refuse(describeSysError(e));
  }
  const env = sessionEnvironment(job.env, account);
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, env);
  const classic = job.pop3dPrefix === "qmail-pop3d";
  const ctx: AppletContext = {
    applet: "pop3d",
    calledAs: classic ? "qmail-pop3d" : "pop3d",
    classic,
    prefix: job.pop3dPrefix,
    execPath: job.execPath,
    env,
  };
  return pop3d.run(job.pop3dArgs, ctx);
}

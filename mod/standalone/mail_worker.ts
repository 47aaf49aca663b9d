/**
 * A mail worker (`poppin serve --mail-worker`, started by serve --inline as root ahead of
 * need, with a control socket as fd 3): it waits, as root, having read nothing from any
 * client, until serve hands it one session after that session's password check: the
 * account, the session's environment and the client connection (a descriptor passed with
 * SCM_RIGHTS). It then switches irreversibly to the user (groups, gid, uid; it checks that
 * setuid(0) now fails), enters the user's home, makes the connection its fds 0 and 1 and
 * runs pop3d's own applet, exactly as checkpassword's exec of pop3d would. Its stderr is
 * the control socket too: pop3d's log lines and then the session's end record reach serve
 * in order, and serve writes them as a user process's lines (user_log.ts). Afterwards the
 * worker, now the user's for good, may serve more sessions of that one account (as
 * Dovecot reuses a mail process for the same uid); serve hands it no other.
 */
import { sessionEnvironment, becomeAccount, enterHome } from "../auth/session.ts";
import type { Account } from "../auth/account.ts";
import { applet as pop3d } from "../applets/pop3d.ts";
import type { AppletContext } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, describeSysError } from "../base/errors.ts";
import { writeAll, writeStderr } from "../base/io.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { fstatSync, openSync, readdirSync } from "node:fs";
import { isMboxArgument } from "../mbox/spool_path.ts";
import { makeUndumpable } from "../sys/dumpable.ts";
import { dup2 } from "../sys/fd.ts";
import { closeDescriptor, receiveWithDescriptor } from "../sys/fd_passing.ts";
import { longRunning } from "../sys/jit.ts";
import { stopWatchdog } from "../sys/watchdog.ts";
import { canRegainRoot } from "../sys/switch_ids.ts";

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

/** Whether two hand-overs are for the same account (a worker serves one account only, ever). */
function sameAccount(a: MailWorkerJob["account"], b: MailWorkerJob["account"]): boolean {
  return a.login === b.login && a.uid === b.uid && a.gid === b.gid && a.home === b.home && a.source === b.source;
}

/** The end-of-session record on the control socket: NUL, "end", pop3d's exit status, LF. */
export const END_RECORD = /^\0end (\d{1,3})$/;
/**
 * The worker's first word after a hand-over: it holds the connection now. Until serve reads it,
 * serve keeps its own copy, so a worker that dies before taking a session (killed while it
 * waited, say) loses nothing: serve hands the session to another.
 */
export const TOOK_RECORD = /^\0took$/;

/** This process's descriptors, each with what it refers to (device and inode). */
function openDescriptors(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      const st = fstatSync(Number(name));
      out.set(Number(name), `${st.dev}:${st.ino}:${st.isFile() || st.isDirectory() ? "f" : "o"}`);
    } catch {
      // the listing's own descriptor, already gone
    }
  }
  return out;
}

/** Descriptors of files and directories opened since `before` (a session's mailbox lock, say): closed after it. */
function closeSessionFiles(before: Map<number, string>): void {
  for (const [fd, what] of openDescriptors()) {
    if (before.get(fd) !== what && what.endsWith(":f")) closeDescriptor(fd);
  }
}

/**
 * The worker's life: wait for a session, become its user, serve it with pop3d, report its
 * end; then wait for another session of that same account (serve hands it only those), or
 * end when serve closes the control socket. An mbox session ends the worker (its spool
 * locks belong to the process).
 */
export async function runMailWorker(): Promise<number> {
  const fatal = (text: string) => writeStderr(`mail worker: fatal: ${text}\n`);
  if (process.geteuid?.() !== 0) {
    fatal("a mail worker is started by serve --inline as root");
    return EXIT_TEMP;
  }
  longRunning();
  const nothing = openSync("/dev/null", "r+");
  const buffer = new Uint8Array(MAIL_WORKER_MESSAGE_MAX + 1);
  let account: MailWorkerJob["account"] | undefined;
  for (;;) {
    let got;
    try {
      got = receiveWithDescriptor(MAIL_WORKER_CONTROL_FD, buffer);
    } catch (e) {
      fatal(`unable to read the control socket: ${describeSysError(e)}`);
      return EXIT_TEMP;
    }
    if (got.length === 0 && got.fd === undefined) return EXIT_OK; // serve closed the control socket: nothing more to serve
    let job: unknown;
    try {
      job = JSON.parse(Buffer.from(buffer.subarray(0, got.length)).toString("utf8"));
    } catch {
      job = undefined;
    }
    if (got.fd === undefined) {
      fatal("a session came without its connection");
      return EXIT_TEMP;
    }
    const client = got.fd;
    try {
      writeAll(MAIL_WORKER_CONTROL_FD, "\0took\n");
    } catch {
      // serve is gone: the session is ours alone
    }
    const refuse = (text: string): number => {
      // Only writing to the socket serve gave us: no path is touched.
      try {
        writeAll(client, err(TEXT.authTemp));
      } catch {
        // the client is gone
      }
      fatal(text);
      return EXIT_TEMP;
    };
    if (!isJob(job)) {
      const uid = (job as MailWorkerJob | undefined)?.account?.uid;
      // A uid-0 account is no mail user: no session is served as root, whatever POPPIN_MIN_UID says.
      return refuse(uid === 0 ? "refusing to serve a session as root (uid 0)" : "the session's description is malformed");
    }
    if (account === undefined) {
      const switchTo: Account = { ...job.account, hash: undefined };
      try {
        becomeAccount(switchTo, 0);
      } catch (e) {
        return refuse(`unable to switch to uid ${switchTo.uid}: ${describeSysError(e)}`);
      }
      if (process.getuid!() !== switchTo.uid || process.geteuid!() !== switchTo.uid || canRegainRoot()) {
        return refuse(`still able to become root after switching to uid ${switchTo.uid}: refusing to serve`);
      }
      // The user may not attach to it (ptrace, /proc/PID/mem): it will serve more sessions, and serve trusts its end records.
      try {
        makeUndumpable();
      } catch (e) {
        return refuse(`unable to make the worker non-dumpable: ${describeSysError(e)}`);
      }
      account = job.account;
    } else if (!sameAccount(account, job.account)) {
      return refuse(`a session of uid ${job.account.uid} handed to the worker of uid ${account.uid}`);
    }
    // From here on nothing has more rights than the mailbox owner.
    try {
      enterHome({ ...account, hash: undefined }, job.env);
      dup2(client, 0);
      dup2(client, 1);
      if (client > 2) closeDescriptor(client);
    } catch (e) {
      return refuse(describeSysError(e));
    }
    const before = openDescriptors();
    const env = sessionEnvironment(job.env, { ...account, hash: undefined });
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
    const code = await pop3d.run(job.pop3dArgs, ctx);
    // The session is over: its files are closed (its mailbox lock first), then the connection
    // leaves fds 0 and 1 (the client sees the close), as when pop3d exits.
    closeSessionFiles(before);
    dup2(nothing, 0);
    dup2(nothing, 1);
    // Between sessions the worker waits for serve, as long as it takes: no watchdog.
    stopWatchdog();
    if (job.pop3dArgs.some(isMboxArgument)) return code;
    try {
      writeAll(MAIL_WORKER_CONTROL_FD, `\0end ${code}\n`);
    } catch {
      return code; // serve is gone
    }
  }
}

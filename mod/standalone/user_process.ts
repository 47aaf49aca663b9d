/**
 * System users with their own uids: once the password is verified, serve (still root)
 * starts pop3d as a process of that user, in the user's home, with the connection as
 * fds 0 and 1: checkpassword's exec of pop3d, without a checkpassword process. Mail is
 * then read only with the user's own rights. The child gets the account's primary group
 * only (no initgroups: Bun's spawn sets the uid and gid it is given). Its stderr is a pipe
 * to serve, never the service log (user_log.ts): the user owns the process.
 */
import type { Account } from "../auth/account.ts";
import { sessionEnvironment } from "../auth/session.ts";
import { describeSysError } from "../cli/errors.ts";
import { forwardUserLog } from "./user_log.ts";

export interface UserProcessSpec {
  execPath: string;
  /** "qmail-pop3d" (run under that name) or "poppin pop3d". */
  pop3dPrefix: string;
  /** pop3d's arguments after its name (options and the mailbox). */
  pop3dArgs: readonly string[];
  /** Writes one finished line to the service log. */
  log(line: string): void;
}

export type UserProcessStart =
  | { kind: "started"; pid: number; exited: Promise<{ exitCode: number | null; signalCode: string | null }> }
  | { kind: "failed"; detail: string };

export function startUserProcess(fd: number, account: Account, env: NodeJS.ProcessEnv, spec: UserProcessSpec): UserProcessStart {
  const classic = spec.pop3dPrefix === "qmail-pop3d";
  const args = [...(classic ? [] : ["pop3d"]), ...spec.pop3dArgs];
  try {
    let resolveExit!: (v: { exitCode: number | null; signalCode: string | null }) => void;
    const exited = new Promise<{ exitCode: number | null; signalCode: string | null }>((r) => (resolveExit = r));
    const child = Bun.spawn([spec.execPath, ...args], {
      argv0: classic ? "qmail-pop3d" : "poppin",
      stdin: fd,
      stdout: fd,
      stderr: "pipe",
      cwd: account.home,
      env: sessionEnvironment(env, account),
      // As root: the user's uid and gid. Otherwise the account is ours already (login admits no other uid).
      ...(process.geteuid?.() === 0 ? { uid: account.uid, gid: account.gid } : {}),
      onExit: (_proc, exitCode, signalCode) => resolveExit({ exitCode, signalCode: signalCode === null ? null : String(signalCode) }),
    });
    const logged = forwardUserLog(child.stderr, spec.pop3dPrefix, spec.log);
    // The session ends once the process exited and its last log line is written.
    return { kind: "started", pid: child.pid, exited: exited.then(async (end) => (await logged.stop(), end)) };
  } catch (err) {
    return { kind: "failed", detail: `unable to run pop3d as uid ${account.uid} in ${account.home}: ${describeSysError(err)}` };
  }
}

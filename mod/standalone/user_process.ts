/**
 * System users with their own uids: once the password is verified, serve (still root)
 * starts pop3d as a process of that user, with the connection as fds 0 and 1:
 * checkpassword's exec of pop3d, without a checkpassword process. It is started in "/" and
 * changes to the home itself, as the user (ENTER_HOME_VARIABLE): root's chdir would take it
 * into a home the user may not enter (a link they made into root's directories). Mail is
 * then read only with the user's own rights. The child gets the account's primary group
 * only (no initgroups: Bun's spawn sets the uid and gid it is given). Its stderr is a pipe
 * whose lines serve copies to the log (mod/cli/child_log.ts): the process is the user's
 * to trace, so it holds no descriptor of the service log.
 */
import type { Account } from "../auth/account.ts";
import { ENTER_HOME_VARIABLE, sessionEnvironment } from "../auth/session.ts";
import { ChildLogRelay } from "../cli/child_log.ts";
import { describeSysError } from "../cli/errors.ts";

/** How long serve still copies a user process's log lines after it exited (a process it left behind may hold the pipe). */
const LOG_DRAIN_MS = 1000;

export interface UserProcessSpec {
  execPath: string;
  /** "qmail-pop3d" (run under that name) or "poppin pop3d". */
  pop3dPrefix: string;
  /** pop3d's arguments after its name (options and the mailbox). */
  pop3dArgs: readonly string[];
  /** Where the process's log lines go (one whole line each, checked and escaped). */
  log: (line: string) => void;
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
      cwd: "/",
      env: { ...sessionEnvironment(env, account), [ENTER_HOME_VARIABLE]: "1" },
      uid: account.uid,
      gid: account.gid,
      onExit: (_proc, exitCode, signalCode) => resolveExit({ exitCode, signalCode: signalCode === null ? null : String(signalCode) }),
    });
    const logged = relayLog(child.stderr as ReadableStream<Uint8Array>, new ChildLogRelay([spec.pop3dPrefix], spec.log));
    // Reported once its last log lines are out (or LOG_DRAIN_MS after the exit), so they come before serve's "end" line.
    const done = exited.then(async (status) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([logged, new Promise((r) => { timer = setTimeout(r, LOG_DRAIN_MS); })]);
      clearTimeout(timer);
      return status;
    });
    return { kind: "started", pid: child.pid, exited: done };
  } catch (err) {
    return { kind: "failed", detail: `unable to run pop3d as uid ${account.uid} in ${account.home}: ${describeSysError(err)}` };
  }
}

async function relayLog(stream: ReadableStream<Uint8Array>, relay: ChildLogRelay): Promise<void> {
  try {
    for await (const chunk of stream) relay.feed(chunk);
  } catch {
    // the pipe broke: what was read is written below
  }
  relay.end();
}

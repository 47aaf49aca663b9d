/**
 * System users with their own uids: once the password is verified, serve (still root)
 * starts pop3d for that user, with the connection as fds 0 and 1:
 * checkpassword's exec of pop3d, without a checkpassword process. It is started in "/" and
 * changes to the home itself, as the user (ENTER_HOME_VARIABLE): root's chdir would take it
 * into a home the user may not enter (a link they made into root's directories). pop3d
 * becomes the user (groups, gid, uid, as checkpassword does) before it reads its arguments,
 * so mail is read only with the user's own rights. Its stderr is a pipe to serve, never the
 * service log (user_log.ts): the user owns the process.
 */
import type tls from "node:tls";
import type { Account } from "../auth/account.ts";
import { BECOME_VARIABLE, ENTER_HOME_VARIABLE, sessionEnvironment } from "../auth/session.ts";
import { describeSysError } from "../base/errors.ts";
import { nodeChildProcess } from "../sys/builtins.ts";
import { tlsEnvironment } from "../tls/context.ts";
import { endTls, relayChild } from "../tls/relay.ts";
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

/**
 * pop3d's environment: the session's, plus the account's kind (it enters the home itself) and,
 * as root, the account's ids, which pop3d switches to first thing (mod/auth/session.ts, through
 * sys/switch_ids.ts, as checkpassword and the mail workers do). Not root: the account is ours
 * already (login admits no other uid).
 */
function userEnvironment(session: Record<string, string>, account: Account): Record<string, string> {
  const out: Record<string, string> = { ...session, [ENTER_HOME_VARIABLE]: account.source };
  if (process.geteuid?.() === 0) out[BECOME_VARIABLE] = `${account.uid}:${account.gid}`;
  else delete out[BECOME_VARIABLE];
  return out;
}

/** `extraFd`: a descriptor the process gets as its fd 3 (commands pipelined after PASS, pipelined_input.ts). */
export function startUserProcess(fd: number, account: Account, env: NodeJS.ProcessEnv, spec: UserProcessSpec, extraFd?: number): UserProcessStart {
  const classic = spec.pop3dPrefix === "qmail-pop3d";
  const args = [...(classic ? [] : ["pop3d"]), ...spec.pop3dArgs];
  try {
    let resolveExit!: (v: { exitCode: number | null; signalCode: string | null }) => void;
    const exited = new Promise<{ exitCode: number | null; signalCode: string | null }>((r) => (resolveExit = r));
    const child = Bun.spawn([spec.execPath, ...args], {
      argv0: classic ? "qmail-pop3d" : "poppin",
      stdio: extraFd === undefined ? [fd, fd, "pipe"] : [fd, fd, "pipe", extraFd],
      cwd: "/",
      env: userEnvironment(sessionEnvironment(env, account), account),
      onExit: (_proc, exitCode, signalCode) => resolveExit({ exitCode, signalCode: signalCode === null ? null : String(signalCode) }),
    });
    const logged = forwardUserLog(child.stderr, spec.pop3dPrefix, spec.log);
    // The session ends once the process exited and its last log line is written.
    return { kind: "started", pid: child.pid, exited: exited.then(async (end) => (await logged.stop(), end)) };
  } catch (err) {
    return { kind: "failed", detail: `unable to run pop3d as uid ${account.uid} in ${account.home}: ${describeSysError(err)}` };
  }
}

/**
 * The same for a TLS session: TLS stays in serve (the key never reaches a user process), and
 * pop3d gets pipes on fds 0 and 1 that serve relays through the session, with SSL_PROTOCOL
 * and SSL_CIPHER set, as popup does for the classic chain after STLS. `first`: what the client
 * sent after PASS, read by serve already. Exits once pop3d ended and its output went out.
 */
export function startUserProcessOverTls(secure: tls.TLSSocket, first: Uint8Array, account: Account, env: NodeJS.ProcessEnv, spec: UserProcessSpec): UserProcessStart {
  const classic = spec.pop3dPrefix === "qmail-pop3d";
  const args = [...(classic ? [] : ["pop3d"]), ...spec.pop3dArgs];
  let child;
  try {
    child = nodeChildProcess().spawn(spec.execPath, args, {
      argv0: classic ? "qmail-pop3d" : "poppin",
      stdio: ["pipe", "pipe", "pipe"],
      cwd: "/",
      env: userEnvironment(sessionEnvironment({ ...env, ...tlsEnvironment(secure) }, account), account),
    });
  } catch (err) {
    return { kind: "failed", detail: `unable to run pop3d as uid ${account.uid} in ${account.home}: ${describeSysError(err)}` };
  }
  let spawnError: string | undefined;
  child.on("error", (e: Error) => (spawnError ??= describeSysError(e)));
  const logged = forwardUserLog(child.stderr as unknown as AsyncIterable<Uint8Array>, spec.pop3dPrefix, spec.log);
  const exited = relayChild(secure, child, first).then(async (end) => {
    await logged.stop();
    await endTls(secure);
    if (spawnError !== undefined && end.code === null && end.signal === null) {
      spec.log(`${spec.pop3dPrefix}: fatal: unable to run pop3d as uid ${account.uid} in ${account.home}: ${spawnError}\n`);
      return { exitCode: 111, signalCode: null };
    }
    return { exitCode: end.code, signalCode: end.signal };
  });
  return { kind: "started", pid: child.pid ?? 0, exited };
}

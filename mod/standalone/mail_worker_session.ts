/**
 * The seam where serve --inline (as root) gives a logged-in session to a mail worker: the
 * account's own worker or one that waited as root (mail_worker_pool.ts), so no process
 * starts on the login path. A plain connection is passed as it is; for TLS, TLS stays here
 * and the worker gets one end of a socket pair whose plaintext serve relays
 * (mail_worker_relay.ts), with SSL_PROTOCOL and SSL_CIPHER in its environment as the
 * classic chain sets them. undefined: no pool, or no worker free, or (plain) none of those it
 * was handed to took it (counted as the pool's fallback): the caller starts a process for the
 * session as before (user_process.ts).
 */
import type net from "node:net";
import type tls from "node:tls";
import type { Account } from "../auth/account.ts";
import { EXIT_TEMP, describeSysError } from "../base/errors.ts";
import { writeAll } from "../base/io.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { closeDescriptor } from "../sys/fd_passing.ts";
import { dupCloseOnExec } from "../sys/fd.ts";
import { tlsEnvironment } from "../tls/context.ts";
import type { MailWorkerPool } from "./mail_worker_pool.ts";
import { relayPlaintext, type PlainRelay } from "./mail_worker_relay.ts";
import type { UserProcessSpec } from "./user_process.ts";

export type WorkerSession =
  | { kind: "ended"; exitCode: number | null; signalCode: string | null }
  | { kind: "failed"; detail: string };

/** Workers one session may be handed to when each ends before taking it. */
const MAX_HANDOVERS = 3;

export async function serveByWorker(
  socket: net.Socket, fd: number | undefined, account: Account, env: NodeJS.ProcessEnv, spec: UserProcessSpec,
  workers: MailWorkerPool | undefined, timeoutMs: number,
): Promise<WorkerSession | undefined> {
  if (workers === undefined) return undefined;
  if (!workers.canTake(account)) {
    workers.fallbacks++;
    return undefined;
  }
  const plain: Record<string, string> = {};
  const tlsVars = fd === undefined ? tlsEnvironment(socket as tls.TLSSocket) : {};
  for (const [key, value] of Object.entries({ ...env, ...tlsVars })) if (value !== undefined) plain[key] = value;
  let relay: PlainRelay | undefined;
  try {
    if (fd === undefined) relay = relayPlaintext(socket);
  } catch (e) {
    return { kind: "failed", detail: `unable to relay the TLS session: ${describeSysError(e)}` };
  }
  const job = {
    account: { login: account.login, uid: account.uid, gid: account.gid, home: account.home, shell: account.shell, source: account.source },
    env: plain,
    pop3dPrefix: spec.pop3dPrefix,
    pop3dArgs: [...spec.pop3dArgs],
    execPath: spec.execPath,
  };
  // A worker that dies before it takes the connection (killed while it waited) leaves our copy
  // open: the session goes to another worker. Our copy of a plain connection is a descriptor of
  // our own (close-on-exec, no reader: the net.Socket goes at once, as it must not read ahead
  // what the worker is to read); for TLS it is the relay's end.
  let held: number | undefined;
  if (relay === undefined) {
    try {
      held = dupCloseOnExec(fd!);
    } catch (e) {
      return { kind: "failed", detail: `unable to keep the connection for the hand-over: ${describeSysError(e)}` };
    }
    socket.destroy(); // never end(): that sends FIN
  }
  const release = () => {
    if (relay !== undefined) relay.release();
    else if (held !== undefined) closeDescriptor(held);
    held = undefined;
  };
  let started;
  const gone: number[] = [];
  for (;;) {
    started = gone.length < MAX_HANDOVERS && workers.canTake(account) ? workers.start(relay?.fd ?? held!, job) : undefined;
    if (started === undefined) {
      const detail = gone.length === 0 ? "no mail worker took the session" : `mail worker ${gone.join(", ")} ended before it took the session`;
      if (relay !== undefined) {
        release();
        relay.abandon();
        return { kind: "failed", detail };
      }
      // The net.Socket is gone: answer on our own copy.
      spec.log(`${spec.pop3dPrefix}: warning: ${detail}\n`);
      try {
        writeAll(held!, err(TEXT.authTemp));
      } catch {
        // the client is gone
      }
      release();
      return { kind: "ended", exitCode: EXIT_TEMP, signalCode: null };
    }
    if (await started.taken) break;
    gone.push(started.pid);
  }
  // The worker holds the connection: our copy goes.
  release();
  const end = await started.exited;
  // What the worker wrote reaches the client before TLS is closed (bounded by the session's timeout).
  if (relay !== undefined) await relay.finished(timeoutMs);
  return { kind: "ended", ...end };
}

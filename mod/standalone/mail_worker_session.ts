/**
 * The seam where serve --inline (as root) gives a logged-in session to a mail worker: the
 * account's own worker or one that waited as root (mail_worker_pool.ts), so no process
 * starts on the login path. A plain connection is passed as it is; for TLS, TLS stays here
 * and the worker gets one end of a socket pair whose plaintext serve relays
 * (mail_worker_relay.ts), with SSL_PROTOCOL and SSL_CIPHER in its environment as the
 * classic chain sets them. undefined: no pool, or no worker free (counted as the pool's
 * fallback): the caller starts a process for the session as before (user_process.ts).
 */
import type net from "node:net";
import type tls from "node:tls";
import type { Account } from "../auth/account.ts";
import { describeSysError } from "../base/errors.ts";
import { tlsEnvironment } from "../tls/context.ts";
import type { MailWorkerPool } from "./mail_worker_pool.ts";
import { relayPlaintext, type PlainRelay } from "./mail_worker_relay.ts";
import type { UserProcessSpec } from "./user_process.ts";

export type WorkerSession =
  | { kind: "ended"; exitCode: number | null; signalCode: string | null }
  | { kind: "failed"; detail: string };

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
  const started = workers.start(relay?.fd ?? fd!, {
    account: { login: account.login, uid: account.uid, gid: account.gid, home: account.home, shell: account.shell, source: account.source },
    env: plain,
    pop3dPrefix: spec.pop3dPrefix,
    pop3dArgs: [...spec.pop3dArgs],
    execPath: spec.execPath,
  });
  if (started === undefined || started.kind === "failed") {
    relay?.release();
    relay?.abandon();
    return { kind: "failed", detail: started?.kind === "failed" ? started.detail : "no mail worker took the session" };
  }
  // Our copy of the connection goes now: the worker holds it (never end(): that sends FIN).
  if (relay !== undefined) relay.release();
  else socket.destroy();
  const end = await started.exited;
  // What the worker wrote reaches the client before TLS is closed (bounded by the session's timeout).
  if (relay !== undefined) await relay.finished(timeoutMs);
  return { kind: "ended", ...end };
}

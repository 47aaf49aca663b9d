/**
 * Implicit TLS for serve --tls (port 995, RFC 8314), as ucspi-ssl's sslserver: the
 * handshake happens in serve, the program runs with pipes on fds 0 and 1 that serve
 * relays through the TLS session, and it finds SSL_PROTOCOL and SSL_CIPHER in its
 * environment. A plaintext client fails the handshake and is dropped.
 */
import { describeSysError } from "../base/errors.ts";
import { nodeChildProcess } from "../sys/builtins.ts";
import type net from "node:net";
import type tls from "node:tls";
import { tlsEnvironment } from "./context.ts";
import { acceptTls } from "./handshake.ts";
import { endTls, relayChild } from "./relay.ts";

export interface ImplicitTlsHooks {
  /** The handshake failed or the program could not start: nothing ran. */
  dropped(reason: string): void;
  /** The program started. */
  started(pid: number): void;
  /** The program ended (after its output was relayed). */
  ended(code: number | null, signal: NodeJS.Signals | null): void;
}

export async function runOverTls(
  sock: net.Socket,
  context: tls.SecureContext,
  handshakeTimeoutMs: number,
  program: readonly string[],
  env: Record<string, string>,
  hooks: ImplicitTlsHooks,
): Promise<void> {
  let secure: tls.TLSSocket;
  try {
    secure = await acceptTls(sock, context, handshakeTimeoutMs);
  } catch (e) {
    hooks.dropped((e as Error).message);
    return;
  }
  secure.on("error", () => secure.destroy());
  let child;
  try {
    child = nodeChildProcess().spawn(program[0]!, program.slice(1), { stdio: ["pipe", "pipe", "inherit"], env: { ...env, ...tlsEnvironment(secure) } });
  } catch (e) {
    secure.destroy();
    hooks.dropped(`unable to run ${program[0]}: ${describeSysError(e)}`);
    return;
  }
  let spawnFailed = false;
  child.on("error", (e: Error & { code?: string }) => {
    spawnFailed = true;
    secure.destroy();
    hooks.dropped(`unable to run ${program[0]}: ${describeSysError(e)}`);
  });
  if (child.pid !== undefined) hooks.started(child.pid);
  const end = await relayChild(secure, child, new Uint8Array(0));
  if (spawnFailed) return;
  // close_notify and FIN once everything the program wrote is out; bounded.
  await endTls(secure);
  hooks.ended(end.code, end.signal);
}

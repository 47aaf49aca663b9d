/**
 * popup's checkpassword chain after STLS: the program gets pipes on fds 0 and 1 that
 * popup relays through the TLS session (it cannot have the raw socket: the client
 * speaks TLS), fd 3 as always, and ucspi-ssl's SSL_* variables. Exit status as in
 * mod/applets/_run_chain.ts: 0 served, 1 refused, else temporary.
 */
import { programLabel } from "../base/self_name.ts";
import { killedBy } from "../sys/watchdog.ts";
import { nodeChildProcess } from "../sys/builtins.ts";
import { describeSysError } from "../base/errors.ts";
import type { Writable } from "node:stream";
import type { ChainResult } from "../session/login_loop.ts";
import { tlsEnvironment } from "../tls/context.ts";
import { relayChild } from "../tls/relay.ts";
import type { TlsChannel } from "../tls/tls_channel.ts";
import { writeStderr } from "../base/io.ts";
import { forwardUserLog } from "../standalone/user_log.ts";
import { chainLogNames } from "./_run_chain.ts";

/**
 * The chain's stderr is a pipe to popup, which writes its lines under the chain's names,
 * escaped and bounded (user_log.ts), as runChain does without TLS: pop3d runs as the mailbox
 * owner, who can ptrace it and would otherwise write any line into the service log (a popup
 * "authorization failed" line fail2ban acts on).
 */
export async function runChainOverTls(argv: readonly string[], data: Uint8Array, env: NodeJS.ProcessEnv, channel: TlsChannel): Promise<ChainResult> {
  let child;
  try {
    child = nodeChildProcess().spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe", "pipe"], env: { ...env, ...tlsEnvironment(channel.socket) } });
  } catch (e) {
    return { kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${describeSysError(e)}` };
  }
  let spawnError: string | undefined;
  child.on("error", (e: Error & { code?: string }) => { spawnError = `unable to run ${argv[0]}: ${describeSysError(e)}`; });
  const pipe = child.stdio[3] as Writable | null;
  if (pipe) {
    pipe.on("error", () => { /* the program did not read fd 3: its exit status tells */ });
    pipe.end(Buffer.from(data)); // a copy: popup zeroes `data` as soon as this returns
  }
  const logged = child.stderr === null ? undefined : forwardUserLog(child.stderr as unknown as AsyncIterable<Uint8Array>, chainLogNames(argv), writeStderr);
  // A refused login leaves what the client pipelined after it unread, for popup to go on with,
  // as the chain without TLS leaves it in the socket.
  const end = await relayChild(channel.socket, child, channel.detach(), { keepUnanswered: true });
  const unread = end.unread ?? new Uint8Array(0);
  await logged?.stop();
  if (spawnError !== undefined) {
    channel.attach(unread);
    return { kind: "failed", failure: "temporary", detail: spawnError };
  }
  if (end.signal !== null) {
    channel.attach(unread);
    return { kind: "failed", failure: "crashed", detail: `${programLabel(argv)} ${killedBy(end.signal)}` };
  }
  if (end.code === 0) {
    await channel.close();
    return { kind: "served" };
  }
  channel.attach(unread);
  return { kind: "failed", failure: end.code === 1 ? "rejected" : "temporary", detail: `${programLabel(argv)} exit ${end.code}` };
}

/**
 * STLS on popup's own connection: fds 0 and 1 are the client's socket (tcpserver,
 * inetd, systemd's Accept=yes), adopted as a stream with net.connect({fd: 0}) (the
 * form that works in Bun 1.4, see RUNTIME_NOTES.md) and wrapped as a TLS server.
 */
import { fstatSync } from "node:fs";
import type net from "node:net";
import { nodeNet } from "../sys/builtins.ts";
import type tls from "node:tls";
import { acceptTls, TlsHandshakeError } from "./handshake.ts";
import { TlsChannel } from "./tls_channel.ts";

/** Negotiates TLS on fds 0/1; throws TlsHandshakeError (also when fd 0 is not a socket). */
export async function upgradeStdio(context: tls.SecureContext, handshakeTimeoutMs: number, readTimeoutMs: number): Promise<TlsChannel> {
  let socket = false;
  try {
    socket = fstatSync(0).isSocket();
  } catch {
    socket = false;
  }
  if (!socket) throw new TlsHandshakeError("STLS needs the client connection on fd 0 to be a socket");
  // Half-open: a client that sends its last commands, then close_notify and FIN (TLS 1.3
  // lets it close its sending side only), still gets every answer, as in serve --inline.
  const raw = nodeNet().connect({ fd: 0, allowHalfOpen: true } as net.NetConnectOpts);
  raw.on("error", () => { /* reported through the TLS socket */ });
  const sock = await acceptTls(raw, context, handshakeTimeoutMs);
  return new TlsChannel(sock, readTimeoutMs);
}

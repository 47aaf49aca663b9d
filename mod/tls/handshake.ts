/**
 * Server-side TLS on an already connected stream (implicit TLS on an accepted socket,
 * or STLS on popup's stdin/stdout), with a handshake timeout of its own: a client that
 * connects and never finishes the handshake is dropped (RFC 2595 leaves it to us).
 */
import type { Duplex } from "node:stream";
import type tls from "node:tls";
import { nodeTls } from "../sys/builtins.ts";

export class TlsHandshakeError extends Error {
  constructor(why: string) {
    super(why);
    this.name = "TlsHandshakeError";
  }
}

/** Wraps `raw` as the TLS server side; resolves once the handshake is done. */
export function acceptTls(raw: Duplex, context: tls.SecureContext, timeoutMs: number): Promise<tls.TLSSocket> {
  // A plain socket's own data listeners would see ciphertext: take them off first.
  raw.removeAllListeners("data");
  // Half-open, in every host: a client that sends its last commands and then close_notify
  // and FIN (TLS 1.3 lets a side close its sending half only) still gets every answer; the
  // session closes the connection when it is done. Otherwise the socket ended our side at
  // the client's end and the answers were lost (serve --tls: even the greeting).
  (raw as { allowHalfOpen?: boolean }).allowHalfOpen = true;
  const sock = new (nodeTls().TLSSocket)(raw as never, { isServer: true, secureContext: context });
  (sock as { allowHalfOpen: boolean }).allowHalfOpen = true;
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      sock.destroy();
      raw.destroy();
      reject(new TlsHandshakeError(why));
    };
    const timer = setTimeout(() => fail(`TLS handshake timed out after ${timeoutMs} ms`), timeoutMs);
    const onError = (e: Error) => fail(`TLS handshake failed: ${e.message}`);
    const onClose = () => fail("connection closed during the TLS handshake");
    sock.once("secure", () => {
      clearTimeout(timer);
      sock.removeListener("error", onError);
      sock.removeListener("close", onClose);
      resolve(sock);
    });
    sock.once("error", onError);
    sock.once("close", onClose);
  });
}

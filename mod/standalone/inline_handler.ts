/**
 * serve --inline's connection handler for mod/serve's server: each admitted connection is
 * served in this process by runInlineSession instead of a program (after the handshake,
 * under --tls). tcpserver's pid/ok/end lines carry serve's own pid (there is no child), the
 * end line the status the chain would have exited with.
 */
import type tls from "node:tls";
import { clientAddressKnown } from "../base/ucspi_env.ts";
import { fillFromInheritedConnection } from "../serve/inherited_connection.ts";
import type { ConnectionHandler } from "../serve/server.ts";
import { DROP_STATUS } from "../serve/server.ts";
import { setReceiveBuffer } from "../sys/fd.ts";
import { tlsEnvironment } from "../tls/context.ts";
import { acceptTls } from "../tls/handshake.ts";
import type { ServeTls } from "../tls/serve_tls.ts";
import { runInlineSession, type InlineSetup } from "./inline_session.ts";
import { RECEIVE_BUFFER_OCTETS } from "./socket_io.ts";

/** `tls`: --tls, every connection is TLS from its first byte (the handshake is done here). */
export function serveInline(setup: InlineSetup, tls?: ServeTls): ConnectionHandler {
  return {
    accepted: (fd) => setReceiveBuffer(fd, RECEIVE_BUFFER_OCTETS),
    // Plain connections are read here from the start; --tls hands the socket to the TLS layer first.
    readsAtOnce: tls === undefined,
    async serve(conn) {
      const { sock } = conn;
      let session = sock;
      let fd: number | undefined = conn.fd;
      let env = conn.env;
      if (tls) {
        try {
          session = await acceptTls(sock, tls.holder.context, tls.handshakeTimeoutMs);
        } catch (err) {
          return conn.dropped((err as Error).message);
        }
        session.on("error", () => {});
        env = { ...env, ...tlsEnvironment(session as tls.TLSSocket) };
        // The session cannot ask the TLS socket (no descriptor of its own): a client address a
        // rule emptied is taken from the TCP connection under it now, as on a plain connection.
        if (!clientAddressKnown(env)) fillFromInheritedConnection(env, conn.fd);
        fd = undefined;
      }
      conn.started(conn.ownPid);
      let status: number;
      try {
        status = await (setup.serveSession ?? runInlineSession)(session, fd, env, setup);
      } catch (err) {
        setup.log(`${setup.chain.popupPrefix}: fatal: internal error: ${(err as Error)?.message ?? String(err)}\n`);
        sock.destroy();
        status = DROP_STATUS;
      }
      conn.ended(status);
    },
  };
}

/**
 * tcpserver's variables for a connection that came without tcpserver: inetd, xinetd or
 * systemd socket activation with Accept=yes hand the program the connection as fds 0 and 1
 * and set nothing. The first poppin program on such a connection asks the socket itself
 * (getpeername, getsockname) and sets PROTO, TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP,
 * TCPLOCALPORT (and the TCP6 ones on an IPv6 socket) with the values serve would have set,
 * as tcpd and tcpserver give their programs. No host names (tcpserver -H) and no ident (-R).
 */
import { clientAddressKnown } from "../base/ucspi_env.ts";
import { connectionEnds } from "../sys/socket_name.ts";
import { childEnvironment } from "./environment.ts";

/**
 * Sets in `env` the UCSPI variables of the TCP connection on `fd`, each only where `env` has
 * none (a value from serve or tcpserver always wins; an empty one counts as none, see
 * mod/base/ucspi_env.ts). Nothing happens when TCPREMOTEIP is already set or `fd` is no TCP
 * connection (a pipe, a terminal, a Unix socket). Returns the names set.
 */
export function fillFromInheritedConnection(env: Record<string, string | undefined>, fd: number): string[] {
  if (clientAddressKnown(env)) return [];
  const ends = connectionEnds(fd);
  if (ends === null) return [];
  const ucspi = childEnvironment(
    {},
    {
      ipv6Socket: ends.ipv6Socket,
      localIp: ends.local.ip,
      localPort: ends.local.port,
      localHost: undefined,
      remoteIp: ends.remote.ip,
      remotePort: ends.remote.port,
      remoteHost: undefined,
      remoteInfo: undefined,
    },
    [],
  );
  const set: string[] = [];
  for (const [name, value] of Object.entries(ucspi)) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}

/**
 * tcpserver's connection variables as every poppin program reads them. tcpserver (and serve)
 * sets each one to a value or leaves it unset, never empty. An empty one comes from a broken
 * environment (`env TCPREMOTEIP= ...` in a run script, a wrapper that copies variables blindly)
 * and counts as unset everywhere: popup, checkpassword, pop3d, qmqpd, the proxy and the
 * --inline hosts then ask the connection itself (mod/serve/inherited_connection.ts), as they do
 * under inetd, so their log lines and the PROXY header a backend gets agree.
 */

/** The variables tcpserver sets for a connection (ucspi-tcp's tcp-environ(5), and the TCP6 ones of ucspi-tcp6). */
export const CONNECTION_VARIABLES = [
  "PROTO",
  "TCPLOCALIP", "TCPLOCALPORT", "TCPLOCALHOST", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPREMOTEHOST", "TCPREMOTEINFO",
  "TCP6LOCALIP", "TCP6LOCALPORT", "TCP6LOCALHOST", "TCP6REMOTEIP", "TCP6REMOTEPORT", "TCP6REMOTEHOST",
] as const;

/**
 * Removes the connection variables that are set but empty from `env` (the one rule above), and
 * says whether the client's address is known (TCPREMOTEIP set): when it is not, the caller asks
 * the connection (fillFromInheritedConnection) or logs rip=unknown.
 */
export function clientAddressKnown(env: Record<string, string | undefined>): boolean {
  for (const name of CONNECTION_VARIABLES) if (env[name] === "") delete env[name];
  return env.TCPREMOTEIP !== undefined;
}

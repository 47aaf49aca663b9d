/**
 * serve — a host: tcpserver. One server (server.ts: accept, -c and --per-ip limits, rules,
 * PROXY header, tcpserver's log lines) with pluggable connection handlers: spawn the program,
 * or relay it through TLS (handlers.ts); serve --inline plugs in mod/standalone's handler.
 * tcpserver's options, --inline and --metrics are parsed once (options.ts).
 */
export { DROP_STATUS, Server, type Admitted, type ConnectionCounters, type ConnectionHandler, type ListenOn, type ServeOutput } from "./server.ts";
export { relayOverTls, spawnProgram } from "./handlers.ts";
export { parseServeArgs, usageText, type ServeOptions } from "./options.ts";
export { detachStdio, dropPrivileges, listenAsTold, serveOptionsOrUsage } from "./startup.ts";

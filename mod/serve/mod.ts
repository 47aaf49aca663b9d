/**
 * serve — a host: tcpserver. One server (server.ts: accept, -c and --per-ip limits, rules,
 * PROXY header, tcpserver's log lines) with pluggable connection handlers: spawn the program,
 * or relay it through TLS (handlers.ts); serve --inline plugs in mod/standalone's handler.
 * tcpserver's options, --inline and --metrics are parsed once (options.ts); chain_spec.ts
 * recognises poppin's own chain in the program's words, chain_check.ts checks it at start.
 */
export { DROP_STATUS, Server, type Admitted, type ConnectionCounters, type ConnectionHandler, type ListenOn, type ServeOutput } from "./server.ts";
export { relayOverTls, spawnProgram } from "./handlers.ts";
export { parseServeArgs, usageText, type ServeOptions } from "./options.ts";
export { detachStdio, dropPrivileges, listenAsTold, serveOptionsOrUsage } from "./startup.ts";
export { parseLoginChain, parsePopupChain, selfResolver, type LoginChain, type PopupChain } from "./chain_spec.ts";

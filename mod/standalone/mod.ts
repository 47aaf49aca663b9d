/**
 * standalone — a host: serve --inline, poppin's own chain served in serve's process.
 * inline_main.ts starts it (crypt pool, credential and listing caches, metrics, status
 * lines, SIGTERM); inline_handler.ts is its connection handler for mod/serve's server;
 * inline_session.ts runs mod/session's login and mailbox session over the socket
 * (socket_io.ts, _socket_channel.ts), or hands the session to a process of the user's uid
 * (user_process.ts); inline_proxy.ts serves the proxy chain.
 */
export { runInline } from "./inline_main.ts";
export { serveInline } from "./inline_handler.ts";
export { runInlineSession, type InlineSetup } from "./inline_session.ts";
export { startUserProcess, startUserProcessOverTls } from "./user_process.ts";

/**
 * Node built-ins that take milliseconds to load (net, tls, crypto, child_process, dns, tty and
 * zlib bring in the stream machinery; util about half a millisecond), loaded on first use. Every applet is in one binary, so a static import
 * anywhere would load them at every start: popup, started once per login by the classic chain,
 * needs none of them on its usual path. Types still come from `import type`.
 */
let net: typeof import("node:net") | undefined;
let tls: typeof import("node:tls") | undefined;
let crypto: typeof import("node:crypto") | undefined;
let childProcess: typeof import("node:child_process") | undefined;
let dns: typeof import("node:dns/promises") | undefined;
let tty: typeof import("node:tty") | undefined;
let util: typeof import("node:util") | undefined;
let os: typeof import("node:os") | undefined;

export function nodeNet(): typeof import("node:net") {
  return (net ??= require("node:net") as typeof import("node:net"));
}

export function nodeTls(): typeof import("node:tls") {
  return (tls ??= require("node:tls") as typeof import("node:tls"));
}

export function nodeCrypto(): typeof import("node:crypto") {
  return (crypto ??= require("node:crypto") as typeof import("node:crypto"));
}

export function nodeChildProcess(): typeof import("node:child_process") {
  return (childProcess ??= require("node:child_process") as typeof import("node:child_process"));
}

export function nodeDns(): typeof import("node:dns/promises") {
  return (dns ??= require("node:dns/promises") as typeof import("node:dns/promises"));
}

/** isatty(3) through node:tty, loaded on first use. */
export function isatty(fd: number): boolean {
  return (tty ??= require("node:tty") as typeof import("node:tty")).isatty(fd);
}

/** node:os is cheap (about 0.1 ms), but a classic session needs it only after a failure (errno names) or not at all. */
export function nodeOs(): typeof import("node:os") {
  return (os ??= require("node:os") as typeof import("node:os"));
}

export function nodeUtil(): typeof import("node:util") {
  return (util ??= require("node:util") as typeof import("node:util"));
}

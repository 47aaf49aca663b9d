/** Starts the classic chain behind poppin's serve or Debian's tcpserver, for real-client tests. */
import { applet, startPortServer } from "../helpers.ts";

export interface Service {
  port: number;
  /** Everything the server and the chain wrote to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface ChainOptions {
  /** "poppin": our serve; "tcpserver": Debian's /usr/bin/tcpserver running our applets; "inline": our serve --inline. */
  server: "poppin" | "tcpserver" | "inline";
  /** More tcpserver options (before HOST). */
  serveArgs?: string[];
  /** Environment of the whole chain (POPPIN_USERDB, POPPIN_TIMEOUT ...). */
  env: Record<string, string>;
  cwd: string;
  /** The name of the Maildir relative to the user's home. */
  maildir?: string;
  hostname?: string;
}

/** `serve [--inline] -1 -v -HR 127.0.0.1 0 qmail-popup HOST checkpassword qmail-pop3d Maildir`, as a run script would. */
export async function startChain(opts: ChainOptions): Promise<Service> {
  const server = opts.server === "tcpserver" ? "/usr/bin/tcpserver" : applet("tcpserver");
  const args = [
    ...(opts.server === "inline" ? ["--inline"] : []), "-1", "-v", "-HR", ...(opts.serveArgs ?? []), "127.0.0.1", "0",
    applet("qmail-popup"), opts.hostname ?? "pop.example.org",
    applet("checkpassword"),
    applet("qmail-pop3d"), opts.maildir ?? "Maildir",
  ];
  const s = await startPortServer([server, ...args], { cwd: opts.cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env } });
  return { port: s.port, log: s.log, stop: async () => void (await s.stop()) };
}

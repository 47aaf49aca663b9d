/** Starts the classic chain behind poppin's serve or Debian's tcpserver, for real-client tests. */
import { applet, startPortServer } from "../helpers.ts";

export interface Service {
  port: number;
  /** Everything the server and the chain wrote to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface ChainOptions {
  /** "poppin": our serve; "tcpserver": Debian's /usr/bin/tcpserver running our applets. */
  server: "poppin" | "tcpserver";
  /** Environment of the whole chain (POPPIN_USERDB, POPPIN_TIMEOUT ...). */
  env: Record<string, string>;
  cwd: string;
  /** The name of the Maildir relative to the user's home. */
  maildir?: string;
  hostname?: string;
}

/** `serve -1 -v -HR 127.0.0.1 0 qmail-popup HOST checkpassword qmail-pop3d Maildir`, as a run script would. */
export async function startChain(opts: ChainOptions): Promise<Service> {
  const server = opts.server === "poppin" ? applet("tcpserver") : "/usr/bin/tcpserver";
  const args = [
    "-1", "-v", "-HR", "127.0.0.1", "0",
    applet("qmail-popup"), opts.hostname ?? "pop.example.org",
    applet("checkpassword"),
    applet("qmail-pop3d"), opts.maildir ?? "Maildir",
  ];
  const s = await startPortServer([server, ...args], { cwd: opts.cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env } });
  return { port: s.port, log: s.log, stop: async () => void (await s.stop()) };
}

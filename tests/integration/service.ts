/** Starts the classic chain behind poppin's serve or Debian's tcpserver, for real-client tests. */
import { spawn, type ChildProcess } from "node:child_process";
import { applet } from "../helpers.ts";

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
  const child: ChildProcess = spawn(server, args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString("latin1"); });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${server} did not report its port: ${stderr}`)), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${server} exited ${code}: ${stderr}`)); });
  });
  return {
    port,
    log: () => stderr,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    }),
  };
}

/** Starts a tcpserver (Debian's or ours) on a free loopback port and talks to it. */
import net from "node:net";
import { applet, requireTool, startPortServer } from "../helpers.ts";

export interface Running {
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

export const implementations = (): { name: string; bin: string }[] => [
  { name: "debian", bin: requireTool("tcpserver") },
  { name: "poppin", bin: applet("tcpserver") },
];

/** Runs `bin -1 ARGS...` and waits for the port it prints (so ARGS must put host and port 0). */
export async function startServer(bin: string, args: string[], env?: Record<string, string>): Promise<Running> {
  const s = await startPortServer([bin, "-1", ...args], { env: env ?? (process.env as Record<string, string>) });
  return { port: s.port, proc: s.proc, stderr: s.log, stop: async () => void (await s.stop()) };
}

export interface Talk {
  /** Bytes sent once connected (or after the first output, with `afterFirstOutput`). */
  send?: string;
  afterFirstOutput?: boolean;
  /** Wait this long after the trigger before sending. */
  sendDelayMs?: number;
  localAddress?: string;
  host?: string;
  timeoutMs?: number;
}

/** Connects, optionally sends, and returns everything received until the server closes (or the timeout). */
export function talk(port: number, t: Talk = {}): Promise<{ out: string; closed: boolean; firstDataAt: number; closedAt: number }> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: t.host ?? "127.0.0.1", localAddress: t.localAddress });
    let out = "";
    let sent = false;
    let firstDataAt = 0;
    const timer = setTimeout(() => { sock.destroy(); resolve({ out, closed: false, firstDataAt, closedAt: 0 }); }, t.timeoutMs ?? 5000);
    const sendNow = () => {
      if (sent || t.send === undefined) return;
      sent = true;
      const data = t.send;
      if (t.sendDelayMs) setTimeout(() => sock.write(data), t.sendDelayMs);
      else sock.write(data);
    };
    sock.on("connect", () => { if (!t.afterFirstOutput) sendNow(); });
    sock.on("data", (d) => { if (!firstDataAt) firstDataAt = performance.now(); out += d.toString("latin1"); if (t.afterFirstOutput) sendNow(); });
    sock.on("error", () => {});
    sock.on("close", () => { clearTimeout(timer); resolve({ out, closed: true, firstDataAt, closedAt: performance.now() }); });
  });
}

/** Waits until `check()` holds or the time is up. */
export async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await Bun.sleep(10);
  }
  return check();
}

/** tcpserver log lines with pids and ports replaced, for comparing two servers. */
export function maskLog(text: string, ownPid?: number): string {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l
      .replace(/^(tcpserver: (?:pid|ok|deny|end)) \d+/, "$1 PID")
      .replace(/:(\d+)( |$)/g, ":PORT$2")
      .replace(ownPid === undefined ? /^$/ : new RegExp(`\\b${ownPid}\\b`), "PID"))
    .join("\n");
}

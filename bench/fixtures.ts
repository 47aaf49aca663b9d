/**
 * What the benchmarks share: the test message, Maildirs filled with it (named as `poppin
 * deliver` names them), the median of a few rounds, and a pre-authenticated POP3 session
 * (pipelined commands on a pipe, answers counted from a pipe) for pop3d and Dovecot's pop3.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALIASES } from "../mod/cli/applet_table.ts";

/** Message `i` of about `octets` octets: a few headers and lines of prose, LF line ends. */
export function benchMessage(i: number, octets: number): Buffer {
  const head = `From: sender${i}@example.org\nTo: joe@example.org\nSubject: message ${i}\nMessage-ID: <${i}@bench.example>\n\n`;
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\n";
  const body = line.repeat(Math.ceil(octets / line.length)).slice(0, Math.max(0, octets - head.length - 1)) + "\n";
  return Buffer.from(head + body);
}

/** A Maildir at `md` with `count` messages in cur/, named with ,S= and ,W= as `poppin deliver` does; returns their octets. */
export function fillMaildir(md: string, count: number, octets: (i: number) => number): number {
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  let total = 0;
  for (let i = 0; i < count; i++) {
    const m = benchMessage(i, octets(i));
    total += m.length;
    const lines = m.toString("latin1").split("\n").length - 1;
    writeFileSync(join(md, "cur", `${1700000000 + i}.M${i}P${1000 + (i % 30000)}.bench.example,S=${m.length},W=${m.length + lines}:2,S`), m);
  }
  return total;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * One pre-authenticated session: `argv` run in `cwd` with `commands` on a pipe (Dovecot needs
 * a pollable stdin), the answers counted; milliseconds, octets received and the first 4 KB.
 */
export async function pipedSession(argv: string[], cwd: string, commands: string): Promise<{ ms: number; octets: number; head: string }> {
  const started = performance.now();
  const proc = Bun.spawn(argv, { cwd, stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  proc.stdin.write(commands);
  proc.stdin.end();
  let octets = 0;
  let head = "";
  for await (const chunk of proc.stdout) {
    if (head.length < 4096) head += Buffer.from(chunk).toString("latin1");
    octets += chunk.length;
  }
  const code = await proc.exited;
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { ms, octets, head };
}

/** The "+OK N M" answer to STAT in a session's first answers (or the start of them). */
export function statAnswer(head: string): string {
  return head.split("\r\n").find((l) => /^\+OK \d+ \d+$/.test(l)) ?? head.slice(0, 80);
}

/**
 * Resolves once something accepts connections on 127.0.0.1:`port`; rejects after `timeoutMs`
 * naming `what`, or as soon as `exited` settles (the server gave up, e.g. it could not bind),
 * instead of waiting out the timeout.
 */
export function waitForPort(port: number, timeoutMs: number, what = "the server", exited?: Promise<number>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let done = false;
    void exited?.then((code) => {
      if (!done) reject(new Error(`${what} exited (${code}) before it listened on ${port}`));
      done = true;
    });
    const attempt = () => {
      if (done) return;
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        done = true;
        resolve();
      });
      s.on("error", () => {
        if (done) return;
        if (Date.now() > deadline) {
          done = true;
          reject(new Error(`${what} did not listen on ${port}`));
        } else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Reads the port a server started with -1 (tcpserver's "print the local port") writes as its
 * first line: the real sign it listens. Rejects if it exits first or prints nothing in `timeoutMs`.
 */
export async function printedPort(proc: { stdout: ReadableStream<Uint8Array>; exited: Promise<number> }, timeoutMs: number, what: string): Promise<number> {
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!text.includes("\n")) {
      const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => "timeout" as const)]);
      if (next === "timeout") throw new Error(`${what} printed no port in ${timeoutMs / 1000} s`);
      if (next.done) throw new Error(`${what} exited (${await proc.exited}) before it listened`);
      text += Buffer.from(next.value).toString("latin1");
    }
  } finally {
    reader.releaseLock();
  }
  const port = Number(text.slice(0, text.indexOf("\n")));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${what} printed ${JSON.stringify(text)} instead of its port`);
  return port;
}

/** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves once it exited. */
export async function stopProcess(proc: { kill(signal?: NodeJS.Signals): void; exited: Promise<number> }, graceMs: number): Promise<void> {
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** A symlink to `poppin` in `dir` for every applet name (the generic ones too, which `poppin install` does not link). */
export function appletLinks(poppin: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const { name } of ALIASES) symlinkSync(poppin, join(dir, name));
}

/**
 * The start every server bench shares: the binary must exist (exit 1 with the hint), and the
 * bench runs as root (the mail uid switch, Dovecot's master) or says why it is skipped (exit 0).
 */
export function requireBinaryAndRoot(poppin: string, bench: string, why: string): void {
  if (!existsSync(poppin)) {
    console.error(`${poppin} missing: run npm run build (or set POPPIN_BIN)`);
    process.exit(1);
  }
  if (process.getuid?.() !== 0) {
    console.log(`${bench} bench: needs root (${why}); skipped`);
    process.exit(0);
  }
}

/** A fresh directory for a bench's files, on /dev/shm where there is one, that every uid may enter. */
export function benchRoot(name: string): string {
  const root = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), `poppin-bench-${name}-`));
  chmodSync(root, 0o755);
  return root;
}

/** The kernel's range for ephemeral ports (the local port of every outgoing connection). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low > 0 && high >= low) return [low, high];
  } catch {
    // not Linux: the IANA dynamic range
  }
  return [49152, 65535];
}

/**
 * Ports for servers that cannot pick their own (Dovecot; poppin takes -1 and port 0 instead):
 * one after another from a random base *below* the kernel's ephemeral range, where no outgoing
 * connection (the bench's own clients open thousands) can be holding the port and make the
 * server's bind fail. Another user of the machine may still run a server on one: start with
 * waitForPort(..., exited) and try the next port if the server exits.
 */
export function portCounter(): () => number {
  const [low] = ephemeralRange();
  const floor = Math.max(1024, Math.min(10_000, low - 4096));
  const span = Math.max(1, low - floor - 1024);
  let next = floor + Math.floor(Math.random() * span);
  return () => {
    const port = next++;
    if (next >= low) next = floor;
    return port;
  };
}

/** chown -R `path` to `uid`:`gid`. */
export function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const n of readdirSync(path)) chownTree(join(path, n), uid, gid);
}

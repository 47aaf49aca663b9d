/**
 * What the benchmarks share: the test message, Maildirs filled with it (named as `poppin
 * deliver` names them), the median of a few rounds, and a pre-authenticated POP3 session
 * (pipelined commands on a pipe, answers counted from a pipe) for pop3d and Dovecot's pop3.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
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

/** Resolves once something accepts connections on 127.0.0.1:`port`; rejects after `timeoutMs` naming `what`. */
export function waitForPort(port: number, timeoutMs: number, what = "the server"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve();
      });
      s.on("error", () => {
        if (Date.now() > deadline) reject(new Error(`${what} did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
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

/** Ports one after another from a random base (servers of one bench run must not collide). */
export function portCounter(): () => number {
  const base = 21000 + Math.floor(Math.random() * 20000);
  let serial = 0;
  return () => base + serial++;
}

/** chown -R `path` to `uid`:`gid`. */
export function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const n of readdirSync(path)) chownTree(join(path, n), uid, gid);
}

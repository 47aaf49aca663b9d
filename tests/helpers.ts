/** Shared test helpers: the compiled binary, symlinks per applet name, temp dirs, running programs. */
import { mkdtempSync, rmSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ALIASES } from "../mod/cli/applet_table.ts";

export const ROOT = resolve(import.meta.dir, "..");
/** The binary under test: dist/poppin, or $POPPIN_BIN (a private build while several people work in one tree). */
export const POPPIN = process.env.POPPIN_BIN ?? join(ROOT, "dist", "poppin");

let binDirCache: string | undefined;

/**
 * A directory holding a symlink per applet name to dist/poppin (every name of the applet table,
 * the generic ones such as `users` too, which `poppin install` does not link).
 */
export function binDir(): string {
  if (binDirCache && existsSync(join(binDirCache, "tcprules"))) return binDirCache;
  if (!existsSync(POPPIN)) throw new Error(`${POPPIN} missing: run npm run build first`);
  const dir = join(tmpdir(), `poppin-bin-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  for (const { name } of ALIASES) {
    if (!existsSync(join(dir, name))) symlinkSync(POPPIN, join(dir, name));
  }
  binDirCache = dir;
  return dir;
}

/** Path of the symlink that calls applet `name` (e.g. "tcprules"). */
export function applet(name: string): string {
  return join(binDir(), name);
}

const dirs: string[] = [];

/** A fresh temporary directory, removed after the test file. */
export function tempDir(label = "t"): string {
  const dir = mkdtempSync(join(tmpdir(), `poppin-${label}-`));
  dirs.push(dir);
  return dir;
}

/**
 * Removes every directory tempDir() and binDir() made. The module is loaded once for the whole
 * run (an afterAll here would belong to the first test file only, and bun test fires no "exit"),
 * so tests/setup.ts, preloaded through bunfig.toml, calls this from a global afterAll.
 */
export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  if (binDirCache) rmSync(binDirCache, { recursive: true, force: true });
  binDirCache = undefined;
}

export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  out: string;
}

export interface RunOptions {
  stdin?: Uint8Array | string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs a program to completion and returns its exit code and output. */
export function run(cmd: string[], opts: RunOptions = {}): RunResult {
  const env = opts.env ? Object.fromEntries(Object.entries(opts.env).filter(([, v]) => v !== undefined)) as Record<string, string> : undefined;
  const r = Bun.spawnSync(cmd, {
    stdin: opts.stdin === undefined ? "ignore" : typeof opts.stdin === "string" ? Buffer.from(opts.stdin) : opts.stdin,
    env,
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 30_000,
  });
  const stdout = new Uint8Array(r.stdout ?? new Uint8Array());
  return { code: r.exitCode ?? -1, stdout, stderr: r.stderr?.toString() ?? "", out: Buffer.from(stdout).toString("latin1") };
}

/** Whether a program from Debian is installed (interop tests need it: .ci/run installs it; never skip in CI). */
export function requireTool(name: string): string {
  const found = Bun.which(name, { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" });
  if (!found) throw new Error(`${name} is not installed: run .ci/run (or apt-get install the package that has it)`);
  return found;
}

/** A server started with -1 on port 0 (serve, Debian's tcpserver, serve --inline ...). */
export interface PortServer {
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything it wrote on stderr so far. */
  log(): string;
  /** SIGTERM, SIGKILL after `graceMs` (10 s) if still running; the exit code (null after a signal). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Runs `argv` (a command line with -1 and port 0) and waits for the port it prints. */
export async function startPortServer(argv: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<PortServer> {
  const proc = Bun.spawn(argv, { env: opts.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" }, cwd: opts.cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) log += Buffer.from(chunk).toString("latin1");
  })();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (!text.includes("\n")) {
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => "timeout" as const)]);
    if (next === "timeout") throw new Error(`${argv.join(" ")} printed no port in 10 s; stderr: ${log}`);
    if (next.done) throw new Error(`${argv.join(" ")} exited before printing its port; stderr: ${log}`);
    text += Buffer.from(next.value).toString();
  }
  reader.releaseLock();
  return {
    port: Number(text.trim()),
    proc,
    log: () => log,
    async stop(graceMs = 10_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return proc.signalCode === null ? code : null;
    },
  };
}

/** Runs a command with a hard timeout, collecting output. */
export async function execAsync(cmd: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: string | Uint8Array; timeoutMs?: number } = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: opts.cwd ?? "/tmp", ...opts.env },
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : Buffer.from(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [out, err] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).arrayBuffer()]).then((bufs) => bufs.map((b) => Buffer.from(b).toString("latin1")));
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out, err };
}

/** A service directory `poppin conf` made, running as supervise would run it. */
export interface ServiceDir {
  /** What ./run wrote on stdout (its log, before multilog) so far. */
  log(): string;
  /** Waits (up to 5 s) until the log has `text`. */
  waitFor(text: string): Promise<void>;
  stop(): void;
}

/** Allows 127.0.0.1 (./add-client), compiles the rules (make), starts ./run and waits for tcpserver's first status line. */
export async function startServiceDir(dir: string): Promise<ServiceDir> {
  if (run(["./add-client", "127.0.0.1"], { cwd: dir }).code !== 0) throw new Error(`${dir}/add-client failed`);
  if (run([requireTool("make")], { cwd: dir }).code !== 0) throw new Error(`make in ${dir} failed`);
  const proc = Bun.spawn(["./run"], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "ignore", env: { PATH: "/usr/bin:/bin" } });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) log += Buffer.from(chunk).toString("latin1");
  })();
  const waitFor = async (text: string, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!log.includes(text) && Date.now() < deadline) await Bun.sleep(50);
  };
  await waitFor("tcpserver: status: 0/", 10_000);
  return { log: () => log, waitFor, stop: () => proc.kill("SIGTERM") };
}

/**
 * Runs an account tool (useradd, chpasswd, userdel) until it succeeds: they lock /etc/passwd and
 * /etc/shadow, which another program (another test file's tool) may hold a moment. Throws after 20 tries.
 */
export function runAccountTool(argv: string[], what: string, stdin?: string): void {
  for (let attempt = 0; ; attempt++) {
    const r = run(argv, { stdin });
    if (r.code === 0) return;
    if (attempt >= 20) throw new Error(`${what}: ${r.stderr}`);
    Bun.sleepSync(100);
  }
}

/** Waits until `probe()` holds, polling every 100 ms; throws naming `what` after `timeoutMs`. */
export async function until(what: string, probe: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

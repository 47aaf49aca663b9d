/**
 * Soak: POP3 sessions at a steady rate against `serve --inline` (or the classic chain)
 * for a bounded time, with the server's RSS, open fds and session latency recorded every
 * interval. Pass mark: flat lines (RSS and fds end where they settled; no failed session;
 * the mailbox unchanged). Not part of `npm run bench` (it runs for as long as it is told).
 *
 *   POPPIN_BIN=dist/poppin bun bench/soak.ts [--seconds 3600] [--interval 60] [--rate 10000] [--clients 4] [--mode inline|classic] [--json FILE]
 *
 * --rate is sessions per hour (the 10,000); 0 runs them back to back.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { median as medianOf } from "./fixtures.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const opts = { seconds: 120, interval: 10, rate: 10000, clients: 4, mode: "inline", json: "" };
for (let i = 2; i < process.argv.length; i++) {
  const key = process.argv[i]!.replace(/^--/, "") as keyof typeof opts;
  const value = process.argv[++i];
  if (!(key in opts) || value === undefined) throw new Error(`usage: bun bench/soak.ts [--seconds N] [--interval N] [--rate N] [--clients N] [--mode inline|classic] [--json FILE]`);
  (opts as Record<string, string | number>)[key] = typeof opts[key] === "number" ? Number(value) : value;
}

const USER = "soak";
const PASSWORD = "Soak-Pass-31f7";
const MESSAGES = 20;

function setUp(): { root: string; home: string; userdb: string } {
  const root = mkdtempSync(join(tmpdir(), "poppin-soak-"));
  chmodSync(root, 0o755);
  const home = join(root, "home");
  mkdirSync(home);
  const uid = process.getuid!() === 0 ? 45678 : process.getuid!();
  const maildir = join(home, "Maildir");
  Bun.spawnSync([POPPIN, "maildirmake", maildir]);
  for (let i = 0; i < MESSAGES; i++) {
    writeFileSync(join(maildir, "new", `17000000${String(i).padStart(2, "0")}.M${i}P1.soak`), `Subject: soak ${i}\n\n${"line of text\n".repeat(200 + i * 50)}`);
  }
  const users = join(root, "users");
  const added = Bun.spawnSync([POPPIN, "users", "-f", users, "add", "--sha512", USER, String(uid), String(uid), home], { stdin: Buffer.from(`${PASSWORD}\n`) });
  if (added.exitCode !== 0) throw new Error(added.stderr.toString());
  if (process.getuid!() === 0) {
    const walk = (d: string) => { chownSync(d, uid, uid); for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : chownSync(join(d, e.name), uid, uid); };
    walk(home);
  }
  return { root, home, userdb: `${users}.cdb` };
}

/** Every process in the tree below (and including) `pid`. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const task of safe(() => readdirSync(`/proc/${out[i]}/task`), [] as string[])) {
      const children = safe(() => readFileSync(`/proc/${out[i]}/task/${task}/children`, "latin1"), "");
      for (const c of children.trim().split(/\s+/).filter(Boolean)) out.push(Number(c));
    }
  }
  return out;
}

function safe<T>(f: () => T, fallback: T): T {
  try { return f(); } catch { return fallback; }
}

function rssKb(p: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(safe(() => readFileSync(`/proc/${p}/status`, "latin1"), ""));
  return m ? Number(m[1]) : 0;
}

function fdCount(p: number): number {
  return safe(() => readdirSync(`/proc/${p}/fd`).filter((fd) => !safe(() => readlinkSync(`/proc/${p}/fd/${fd}`), "").startsWith("anon_inode")).length, 0);
}

/**
 * The server process itself (what must stay flat), and its whole tree: sessions that run in
 * a process of their own come and go, so the tree's figures depend on the moment of the sample.
 */
function sample(pid: number): { rssMb: number; fds: number; treeRssMb: number; processes: number } {
  const pids = tree(pid);
  return { rssMb: rssKb(pid) / 1024, fds: fdCount(pid), treeRssMb: pids.reduce((sum, p) => sum + rssKb(p), 0) / 1024, processes: pids.length };
}

/** One session: USER, PASS, STAT, UIDL, RETR n, QUIT. Resolves with its latency; rejects on any surprise. */
function session(port: number, n: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolveSession, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let step = 0;
    const script = [`USER ${USER}\r\n`, `PASS ${PASSWORD}\r\n`, "STAT\r\n", "UIDL\r\n", `RETR ${n}\r\n`, "QUIT\r\n"];
    // How many answers each step needs before the next command (multi-line answers end with CRLF.CRLF).
    const timer = setTimeout(() => { s.destroy(); reject(new Error("session timed out")); }, 30_000);
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      const text = Buffer.concat(chunks).toString("latin1");
      const singles = text.split("\r\n").filter((l) => l.startsWith("+OK") || l.startsWith("-ERR"));
      if (singles.some((l) => l.startsWith("-ERR"))) { clearTimeout(timer); s.destroy(); reject(new Error(`-ERR: ${text.slice(-200)}`)); return; }
      const multiDone = (text.match(/\r\n\.\r\n/g) ?? []).length;
      const answered = step <= 4 ? singles.length : 0;
      if (step < 4 && answered > step) s.write(script[step++]!);
      else if (step === 4 && multiDone >= 1) s.write(script[step++]!);
      else if (step === 5 && multiDone >= 2) s.write(script[step++]!);
      if (step === 6 && text.endsWith("+OK \r\n") && multiDone >= 2) {
        if (!text.includes(`+OK ${MESSAGES} `)) { reject(new Error(`mailbox changed: ${text.slice(0, 200)}`)); }
        clearTimeout(timer);
        s.end();
        resolveSession(performance.now() - started);
      }
    });
    s.on("error", (e) => { clearTimeout(timer); reject(e); });
  });
}

const { root, home, userdb } = setUp();
// Four clients share one mailbox: qmail's lock-free mode, or they would take turns ([IN-USE]).
writeFileSync(join(root, "none.conf"), "set mailbox-lock = none\n");
const chain = [POPPIN, "popup", "soak.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const serveArgs = opts.mode === "inline" ? ["serve", "--inline", "-1", "-R", "-H", "-c", "100", "127.0.0.1", "0", ...chain] : ["serve", "-1", "-R", "-H", "-c", "100", "127.0.0.1", "0", ...chain];
const server = Bun.spawn([POPPIN, ...serveArgs], { cwd: home, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: userdb, POPPIN_CONFIG: join(root, "none.conf") }, stdout: "pipe", stderr: "pipe" });
const reader = server.stdout.getReader();
const first = await reader.read();
const port = Number(Buffer.from(first.value ?? []).toString().trim());
if (!port) throw new Error("serve did not print its port");
let serverLog = "";
void new Response(server.stderr).text().then((t) => (serverLog = t));

interface Row { t: number; sessions: number; failures: number; p50: number; p99: number; max: number; rssMb: number; fds: number; treeRssMb: number; processes: number }
const rows: Row[] = [];
let latencies: number[] = [];
let failures = 0;
let total = 0;
const failureSamples: string[] = [];
const deadline = Date.now() + opts.seconds * 1000;
const gapMs = opts.rate > 0 ? (3600_000 / opts.rate) * opts.clients : 0;
let next = 0;

async function client(): Promise<void> {
  while (Date.now() < deadline) {
    const started = Date.now();
    try {
      latencies.push(await session(port, 1 + (next++ % MESSAGES)));
    } catch (e) {
      failures++;
      if (failureSamples.length < 5) failureSamples.push(String(e));
    }
    total++;
    const wait = gapMs - (Date.now() - started);
    if (wait > 0) await Bun.sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : 0);
const start = Date.now();
const sampler = setInterval(() => {
  const sorted = latencies.sort((a, b) => a - b);
  const s = sample(server.pid);
  rows.push({ t: Math.round((Date.now() - start) / 1000), sessions: sorted.length, failures, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), max: sorted.at(-1) ?? 0, ...s });
  const r = rows.at(-1)!;
  console.error(`t=${r.t}s sessions=${r.sessions} failures=${r.failures} p50=${r.p50.toFixed(1)}ms p99=${r.p99.toFixed(1)}ms rss=${r.rssMb.toFixed(1)}MB fds=${r.fds} tree=${r.treeRssMb.toFixed(1)}MB/${r.processes}`);
  latencies = [];
}, opts.interval * 1000);
const rssStart = sample(server.pid);
await Promise.all(Array.from({ length: opts.clients }, client));
clearInterval(sampler);
server.kill("SIGTERM");
await Promise.race([server.exited, Bun.sleep(5000)]);
server.kill("SIGKILL");
rmSync(root, { recursive: true, force: true });

console.log(`soak: ${opts.mode}, ${opts.seconds} s, ${opts.clients} clients, target ${opts.rate || "max"} sessions/hour; ${total} sessions, ${failures} failed`);
console.log(`| t (s) | sessions | p50 ms | p99 ms | max ms | server RSS MB | server fds | tree RSS MB (processes) |`);
console.log(`| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
console.log(`| 0 | 0 | | | | ${rssStart.rssMb.toFixed(1)} | ${rssStart.fds} | ${rssStart.treeRssMb.toFixed(1)} (${rssStart.processes}) |`);
for (const r of rows) console.log(`| ${r.t} | ${r.sessions} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.rssMb.toFixed(1)} | ${r.fds} | ${r.treeRssMb.toFixed(1)} (${r.processes}) |`);
// Flat: after the first interval (warm-up), the server's median RSS over the last third of the
// run is within 20% of its median over the first third, and its fds end at most 4 above where they began.
const settled = rows.slice(1);
const median = (xs: number[]) => (xs.length === 0 ? 0 : medianOf(xs));
const third = Math.max(1, Math.floor(settled.length / 3));
const rssGrowth = settled.length >= 2 ? median(settled.slice(-third).map((r) => r.rssMb)) / median(settled.slice(0, third).map((r) => r.rssMb)) - 1 : 0;
const fdGrowth = settled.length >= 2 ? settled.at(-1)!.fds - settled[0]!.fds : 0;
const flat = failures === 0 && rssGrowth < 0.2 && fdGrowth <= 4;
console.log(`server RSS growth after warm-up ${(rssGrowth * 100).toFixed(1)}%, fd growth ${fdGrowth}, failures ${failures}: ${flat ? "FLAT (pass)" : "NOT FLAT (fail)"}`);
for (const f of failureSamples) console.log(`  failure: ${f}`);
// Everything the server said beyond its per-session info lines (warnings, fatal errors).
const notable = serverLog.split("\n").filter((l) => l !== "" && !l.includes(": info: "));
for (const line of notable.slice(0, 20)) console.log(`  server: ${line}`);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ opts, total, failures, rssStart, rows, rssGrowth, fdGrowth, flat }, null, 2));
process.exitCode = flat ? 0 : 1;

/**
 * The proxy tier's cost: the same backend (`serve --inline`, virtual users, yescrypt) reached
 * directly and through `serve --inline ... popup HOST proxy ROUTES.cdb`, in the same run.
 * Scenarios: login rate (connect, USER, PASS, STAT, QUIT; one user per client) at
 * concurrency 8 (BENCH_PROXY_C=N for another), with each login's yescrypt check and with the backend's credential cache
 * on (so the proxy's own cost is not hidden behind crypt); RETR throughput (one session,
 * 1,000 x 100 KB); memory of idle proxied sessions on the proxy (and of idle sessions on the
 * backend); CPU per login on the proxy and on the backend. Logins: both paths up at once, after
 * a warm-up of the same number of logins, then 6 pairs (BENCH_PROXY_PAIRS) of 2-second windows,
 * a direct and a proxied one next to each other (their order alternating), the ratio being the
 * median of the pairs'; RETR: medians of 3 rounds, direct and proxied alternating. Each
 * login scenario also says how busy the CPUs were in its windows (from /proc/stat) and how much
 * of that was the client's, the backend's and the proxy's: a path whose CPUs idle is held back
 * by its round trips, not its CPU. The "capacity" scenario repeats the cached login with enough
 * clients (BENCH_PROXY_CAPACITY_C, 32) to keep the client's and backend's CPUs busy on both
 * paths, which is what a backend serving many clients sees. Goal:
 * the proxy costs at most 10% of login rate and RETR throughput, and an idle proxied session
 * at most 64 KB on the proxy.
 *
 * Direct clients talk to a backend without --proxy; the proxied path to the same Maildirs
 * behind a backend with --proxy --proxy-from 127.0.0.1 (so its logs see the client).
 *
 * Three placements (BENCH_PROXY_CPUS=shared|separate|backend, a comma list, "both" for shared
 * and separate (the default), or "all"): "shared": client, proxy and backend on every CPU of
 * this machine, so the proxy's CPU is taken from the backend's; "separate" (a proxy tier on
 * machines of its own, as deployed): the client and the backend pinned to the first half of
 * the CPUs (taskset), the proxy to the other half, in both the direct and the proxied rounds;
 * "backend" (clients and proxies are other machines, the backend is the resource compared):
 * the backend alone on the first half, the client and the proxy on the other. The goal is the
 * separate one's: the tier's cost to a site is what it adds to a session on its own machines.
 * Needs root (the mail uid); uses dist/poppin or $POPPIN_BIN.
 */
import { appendFileSync, chownSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { benchRoot, chownTree, fillMaildir, median, portCounter, requireBinaryAndRoot, stopProcess, waitForPort } from "./fixtures.ts";
import { Pop3Connection, retrAll } from "./standalone_client.ts";
import { processTree, treeMemory } from "./standalone_servers.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const ROUNDS = 3;
/** Login windows per path, in pairs of a direct and a proxied one next to each other. */
const PAIRS = Number(process.env.BENCH_PROXY_PAIRS ?? 6);
const LOGIN_WINDOW_MS = 2000;
/**
 * Logins before each measured window: JavaScriptCore still compiles the session's code for
 * thousands of logins after a server starts. Bounded in time for the yescrypt scenario.
 */
const WARMUP_LOGINS = 3000;
const WARMUP_MAX_MS = 8000;
const CONCURRENCY = Number(process.env.BENCH_PROXY_C ?? 8);
/** Clients of the capacity scenario: enough to keep the client's and the backend's CPUs busy on both paths. */
const CAPACITY_CONCURRENCY = Number(process.env.BENCH_PROXY_CAPACITY_C ?? 32);
const LOGIN_USERS = Math.max(CONCURRENCY, CAPACITY_CONCURRENCY);
const RETR_COUNT = 1000;
const RETR_OCTETS = 100_000;
const IDLE = Number(process.env.BENCH_PROXY_IDLE ?? 2000);
/** BENCH_ONLY=login,cache,capacity,retr,idle runs only the scenarios named. */
const ONLY = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const wanted = (scenario: string) => ONLY === undefined || ONLY.includes(scenario);
const UID = 65534;
const GID = 65534;
const PASSWORD = "bench-password";

requireBinaryAndRoot(POPPIN, "proxy", "the mail uid");

// ---------- placement: which CPUs the client and backend, and the proxy, may use

const CPUS = navigator.hardwareConcurrency;
type Placement = "shared" | "separate" | "backend";
const PLACEMENT_NAMES: readonly Placement[] = ["shared", "separate", "backend"];
const placementsAsked = process.env.BENCH_PROXY_CPUS ?? "both";
const PLACEMENTS: Placement[] = placementsAsked === "both" ? ["shared", "separate"]
  : placementsAsked === "all" ? [...PLACEMENT_NAMES]
  : placementsAsked.split(",").map((p) => p.trim() as Placement);
for (const p of PLACEMENTS) if (!PLACEMENT_NAMES.includes(p)) throw new Error(`BENCH_PROXY_CPUS: ${p} is not shared, separate, backend, both or all`);
const canSeparate = CPUS >= 2 && Bun.which("taskset") !== null;
const half = Math.floor(CPUS / 2);
const FIRST_HALF = `0-${half - 1}`;
const SECOND_HALF = `${half}-${CPUS - 1}`;
const ALL_CPUS = `0-${CPUS - 1}`;
/** The placement of the rounds being run. */
let placing: Placement = "shared";
/**
 * Which CPUs each party may use. "separate": the client and the backend on the first half,
 * the proxy on the other. "backend": the backend alone on the first half, the client and
 * the proxy on the other (clients and proxies are other machines; the backend is the
 * resource compared).
 */
function cpusOf(role: "client" | "backend" | "proxy"): string {
  if (placing === "shared") return ALL_CPUS;
  if (placing === "separate") return role === "proxy" ? SECOND_HALF : FIRST_HALF;
  return role === "backend" ? FIRST_HALF : SECOND_HALF;
}
const pinned = (role: "backend" | "proxy", argv: string[]) => (placing === "shared" ? argv : ["taskset", "-c", cpusOf(role), ...argv]);
function pinClient(): void {
  const r = Bun.spawnSync(["taskset", "-a", "-p", "-c", cpusOf("client"), String(process.pid)]);
  if (r.exitCode !== 0) throw new Error(`taskset: ${r.stderr.toString()}`);
}

const root = benchRoot("proxy");
const nextPort = portCounter();


// ---------- users: one per login client, one with the RETR mailbox, one per idle session
// (a Maildir serves one session at a time). The idle users share one hash, added as text lines.

const userdb = join(root, "users");
const homeOf = (user: string) => join(root, "homes", user);
for (const user of [...Array.from({ length: LOGIN_USERS }, (_, i) => `login${i}`), "retr"]) {
  mkdirSync(homeOf(user), { recursive: true });
  fillMaildir(join(homeOf(user), "Maildir"), user === "retr" ? RETR_COUNT : 3, () => (user === "retr" ? RETR_OCTETS : 2000));
  const r = Bun.spawnSync([POPPIN, "users", "-f", userdb, "add", user, String(UID), String(GID), homeOf(user)], { stdin: Buffer.from(`${PASSWORD}\n`) });
  if (r.exitCode !== 0) throw new Error(`users add: ${r.stderr.toString()}`);
}
const hash = readFileSync(userdb, "utf8").split("\n").find((l) => l.startsWith("retr:"))!.split(":")[1]!;
const idleLines: string[] = [];
for (let i = 0; i < IDLE; i++) {
  const user = `idle${i}`;
  fillMaildir(join(homeOf(user), "Maildir"), 1, () => 2000);
  idleLines.push(`${user}:${hash}:${UID}:${GID}:${homeOf(user)}\n`);
}
appendFileSync(userdb, idleLines.join(""));
const compiled = Bun.spawnSync([POPPIN, "users", "-f", userdb, "compile"]);
if (compiled.exitCode !== 0) throw new Error(`users compile: ${compiled.stderr.toString()}`);
chownTree(join(root, "homes"), UID, GID);
chownSync(`${userdb}.cdb`, UID, GID);

// ---------- servers

interface Server { port: number; pid: number; stop(): Promise<void> }

/** Starts `argvAt(port)` on a free port: another machine user may hold the first one tried. */
async function start(argvAt: (port: number) => string[], env: Record<string, string> = {}): Promise<Server> {
  for (let attempt = 0; ; attempt++) {
    const port = nextPort();
    const argv = argvAt(port);
    const proc = Bun.spawn(argv, {
      env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: `${userdb}.cdb`, ...env },
      stdout: "ignore", stderr: process.env.BENCH_SERVER_STDERR ? "inherit" : "ignore", stdin: "ignore",
    });
    const up = await Promise.race([waitForPort(port, 15_000, argv.join(" ")).then(() => true), proc.exited.then(() => false)]);
    if (up) return { port, pid: proc.pid, stop: () => stopProcess(proc, 5_000) };
    if (attempt >= 5) throw new Error(`${argv.join(" ")} exited before listening`);
  }
}

const serve = (port: number, extra: string[], chain: string[]) =>
  [POPPIN, "serve", "--inline", process.env.BENCH_SERVER_STDERR ? "-v" : "-q", "-R", "-H", "-l", "bench.example", "-c", "20000", "-b", "1024", ...extra, "127.0.0.1", String(port), ...chain];
const backendChain = [POPPIN, "popup", "bench.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

async function backend(proxied: boolean, env: Record<string, string>): Promise<Server> {
  const extra = ["-u", String(UID), "-g", String(GID), ...(proxied ? ["--proxy", "--proxy-from", "127.0.0.1"] : [])];
  return start((port) => pinned("backend", serve(port, extra, backendChain)), env);
}

async function proxyNode(backendPort: number): Promise<Server> {
  const routes = join(root, `routes-${backendPort}`);
  const r = Bun.spawnSync([POPPIN, "routes", "compile", `${routes}.cdb`, `${routes}.tmp`], { stdin: Buffer.from(`*:127.0.0.1:${backendPort}\n`) });
  if (r.exitCode !== 0) throw new Error(`routes compile: ${r.stderr.toString()}`);
  return start((port) => pinned("proxy", serve(port, ["-u", String(UID), "-g", String(GID)], [POPPIN, "popup", "proxy.example", POPPIN, "proxy", `${routes}.cdb`])));
}

/** Direct: a backend alone. Proxied: a --proxy backend and a proxy node in front. */
async function path(proxied: boolean, env: Record<string, string>): Promise<{ port: number; proxyPid?: number; backendPid: number; stop(): Promise<void> }> {
  const b = await backend(proxied, env);
  if (!proxied) return { port: b.port, backendPid: b.pid, stop: b.stop };
  const p = await proxyNode(b.port);
  return { port: p.port, proxyPid: p.pid, backendPid: b.pid, stop: async () => { await p.stop(); await b.stop(); } };
}

// ---------- measurements

/** CPU of a server and its helpers (the crypt workers), in clock ticks (100 per second). */
function cpuTicks(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]); // utime stime cutime cstime
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

type Role = "client" | "backend" | "proxy";

/** Busy and idle clock ticks of each CPU since boot (the cpuN lines of /proc/stat; idle counts iowait). */
function cpuClocks(): { busy: number; idle: number }[] {
  return readFileSync("/proc/stat", "utf8").split("\n").filter((l) => /^cpu\d/.test(l)).map((l) => {
    const t = l.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    const idle = t[3]! + t[4]!;
    return { busy: t.reduce((a, b) => a + b, 0) - idle, idle };
  });
}

/** The CPUs of a taskset list such as "0-1" or "1". */
function cpuList(list: string): number[] {
  const [from, to] = list.split("-").map(Number);
  return Array.from({ length: (to ?? from!) - from! + 1 }, (_, i) => from! + i);
}

/** Which parties run on which CPUs in this placement. */
function cpuGroups(): { cpus: string; roles: Role[] }[] {
  if (placing === "shared") return [{ cpus: ALL_CPUS, roles: ["client", "backend", "proxy"] }];
  if (placing === "separate") return [{ cpus: FIRST_HALF, roles: ["client", "backend"] }, { cpus: SECOND_HALF, roles: ["proxy"] }];
  return [{ cpus: FIRST_HALF, roles: ["backend"] }, { cpus: SECOND_HALF, roles: ["client", "proxy"] }];
}

/** CPU use over one window in percent of one CPU: each CPU group's busy time, and each party's (the proxy's 0 on the direct path). */
interface WindowUse { busy: number[]; party: Record<Role, number> }

/** Starts watching a window's CPU use; the function returned ends it. */
function watchCpu(p: { proxyPid?: number; backendPid: number }): () => WindowUse {
  const started = performance.now();
  const clocks = cpuClocks();
  const before = { proxy: p.proxyPid ? cpuTicks(p.proxyPid) : 0, backend: cpuTicks(p.backendPid), client: process.cpuUsage() };
  return () => {
    const ms = performance.now() - started;
    const now = cpuClocks();
    const busy = cpuGroups().map((g) => {
      const cpus = cpuList(g.cpus);
      const b = cpus.reduce((sum, c) => sum + now[c]!.busy - clocks[c]!.busy, 0);
      const all = cpus.reduce((sum, c) => sum + now[c]!.busy + now[c]!.idle - clocks[c]!.busy - clocks[c]!.idle, 0);
      return all > 0 ? (100 * cpus.length * b) / all : 0;
    });
    const client = process.cpuUsage(before.client);
    return {
      busy,
      party: {
        client: (client.user + client.system) / 10 / ms,
        backend: ((cpuTicks(p.backendPid) - before.backend) * 10 * 100) / ms,
        proxy: p.proxyPid ? ((cpuTicks(p.proxyPid) - before.proxy) * 10 * 100) / ms : 0,
      },
    };
  };
}

/**
 * The windows' CPU use, medians: how busy each group of CPUs was, and what of it was the
 * client's, the backend's and the proxy's (the rest: other processes and interrupts). CPUs
 * that idle while clients wait mean the rate is set by round trips, not by CPU. Then, for the
 * group the direct path runs on when it is not shared with the proxy, the CPU its parties spend
 * per login on either path, and the rate ratio that allows once that group is the limit.
 */
function cpuUseLines(use: { direct: WindowUse[]; proxied: WindowUse[] }, rates: { direct: number[]; proxied: number[] }): string[] {
  const side = (uses: WindowUse[], proxied: boolean) => cpuGroups().map((g, i) => {
    const roles = g.roles.filter((r) => proxied || r !== "proxy");
    if (roles.length === 0) return undefined;
    const busy = median(uses.map((u) => u.busy[i]!));
    const parts = roles.map((r) => ({ r, v: median(uses.map((u) => u.party[r])) }));
    const rest = Math.max(0, busy - parts.reduce((a, x) => a + x.v, 0));
    return `CPUs ${g.cpus} ${fmt(busy)}% busy of ${cpuList(g.cpus).length * 100}% (${parts.map((x) => `${x.r} ${fmt(x.v)}%`).join(", ")}, the rest ${fmt(rest)}%)`;
  }).filter((x) => x !== undefined).join(", ");
  const lines = [`  CPU use in the windows (medians, % of one CPU; the rest is other processes and interrupts): direct: ${side(use.direct, false)}; proxied: ${side(use.proxied, true)}`];
  if (placing !== "shared") {
    const g = cpuGroups()[0]!;
    const roles = g.roles.filter((r) => r !== "proxy");
    // ms of the group's parties per login: their % of one CPU times 10 ms, over the logins a second
    const perLogin = (uses: WindowUse[], rs: number[]) => median(uses.map((u, k) => (roles.reduce((a, r) => a + u.party[r], 0) * 10) / rs[k]!));
    const d = perLogin(use.direct, rates.direct);
    const x = perLogin(use.proxied, rates.proxied);
    lines.push(`  CPU per login of the ${roles.join(" and the ")} (CPUs ${g.cpus}): direct ${fmt(d, 2)} ms, proxied ${fmt(x, 2)} ms; the ratio these CPUs allow when they are the limit: ${ratio(d, x)}`);
  }
  return lines;
}

/**
 * Logins for `windowMs`, or until `maxLogins` are done (the warm-up's bound); with `perSecond`,
 * started no faster than that many a second.
 */
async function loginRate(port: number, windowMs = LOGIN_WINDOW_MS, maxLogins = Infinity, perSecond?: number, concurrency = CONCURRENCY): Promise<{ rate: number; errors: number; logins: number }> {
  let done = 0;
  let errors = 0;
  let begun = 0;
  const started = performance.now();
  const end = started + windowMs;
  const worker = async (i: number) => {
    while (performance.now() < end && done + errors < maxLogins) {
      if (perSecond !== undefined) {
        const due = started + (begun++ * 1000) / perSecond;
        const wait = due - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        if (performance.now() >= end) break;
      }
      let c: Pop3Connection | undefined;
      try {
        c = await Pop3Connection.connect(port);
        await c.login(`login${i}`, PASSWORD);
        const stat = await c.command("STAT");
        if (!stat.startsWith("+OK")) throw new Error(stat);
        await c.command("QUIT");
        await c.closed(10_000);
        done++;
      } catch {
        errors++;
      } finally {
        c?.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  return { rate: done / ((performance.now() - started) / 1000), errors, logins: done };
}

/**
 * CPU of the whole path (this client, the backend, the proxy) per unit of work, in ms. The client,
 * the proxy and the backend share this machine's CPUs: when they are all busy, the proxied path
 * cannot go faster than the direct one's CPU over its own, whatever the proxy does with its time.
 */
function cpuPerUnit(before: { proxy: number; backend: number; client: NodeJS.CpuUsage }, p: { proxyPid?: number; backendPid: number }, units: number): number {
  const client = process.cpuUsage(before.client);
  const ms = (client.user + client.system) / 1000 + (cpuTicks(p.backendPid) - before.backend) * 10 + (p.proxyPid ? (cpuTicks(p.proxyPid) - before.proxy) * 10 : 0);
  return units > 0 ? ms / units : 0;
}

/** The CPU accounting line: the ratio the machine allows when CPU-bound, and the load it ran at. */
function cpuShare(unit: string, cpu: { direct: number[]; proxied: number[] }): void {
  const d = median(cpu.direct);
  const x = median(cpu.proxied);
  const where = placing === "separate" ? `client + backend on CPUs ${FIRST_HALF}, proxy on ${SECOND_HALF}`
    : placing === "backend" ? `backend on CPUs ${FIRST_HALF}, client + proxy on ${SECOND_HALF}`
    : `client + backend (+ proxy), all on ${CPUS} CPUs`;
  console.log(`  CPU per ${unit}, ${where}: direct ${fmt(d, 2)} ms, proxied ${fmt(x, 2)} ms${placing === "shared" ? `; ratio this machine allows when CPU-bound ${ratio(d, x)}` : ""}; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
}

const placement = () => ({ shared: "proxy sharing the CPUs", separate: "proxy on CPUs of its own", backend: "backend on CPUs of its own, client and proxy on the others" })[placing];
const fmt = (n: number, digits = 0) => n.toFixed(digits);
const ratio = (a: number, b: number) => (b === 0 ? "n/a" : (a / b).toFixed(2));

async function loginScenario(label: string, env: Record<string, string>, concurrency = CONCURRENCY): Promise<void> {
  const direct: number[] = [];
  const proxied: number[] = [];
  const pairRatio: number[] = [];
  const proxyCpu: number[] = [];
  const backendCpu: number[] = [];
  const backendDirectCpu: number[] = [];
  const pacedRate: number[] = [];
  const backendPacedCpu: number[] = [];
  const clientCpu = { direct: [] as number[], proxied: [] as number[] };
  const cpu = { direct: [] as number[], proxied: [] as number[] };
  const use = { direct: [] as WindowUse[], proxied: [] as WindowUse[] };
  let errors = 0;
  // Both paths stay up for the whole scenario and their windows alternate: this machine's speed
  // drifts over tens of seconds (a virtual machine shares its host, other work comes and goes),
  // and a direct window next to a proxied one sees the same machine. The ratio is the median of
  // the pairs' ratios.
  const paths = { direct: await path(false, env), proxied: await path(true, env) };
  try {
    // Warm-up (crypt helpers, caches, the JIT): the same number of logins on both paths, not the
    // same time, or the slower path's windows would carry more of the one-time compiling.
    for (const p of [paths.direct, paths.proxied]) await loginRate(p.port, WARMUP_MAX_MS, WARMUP_LOGINS, undefined, concurrency).catch(() => undefined);
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const viaProxy of pair % 2 === 0 ? [false, true] : [true, false]) {
        const p = viaProxy ? paths.proxied : paths.direct;
        const before = { proxy: p.proxyPid ? cpuTicks(p.proxyPid) : 0, backend: cpuTicks(p.backendPid), client: process.cpuUsage() };
        const watched = watchCpu(p);
        const r = await loginRate(p.port, LOGIN_WINDOW_MS, Infinity, undefined, concurrency);
        (viaProxy ? use.proxied : use.direct).push(watched());
        errors += r.errors;
        (viaProxy ? proxied : direct).push(r.rate);
        (viaProxy ? cpu.proxied : cpu.direct).push(cpuPerUnit(before, p, r.logins));
        const backendMs = ((cpuTicks(p.backendPid) - before.backend) * 10) / r.logins;
        const client = process.cpuUsage(before.client);
        (viaProxy ? clientCpu.proxied : clientCpu.direct).push((client.user + client.system) / 1000 / r.logins);
        if (viaProxy) {
          proxyCpu.push(((cpuTicks(p.proxyPid!) - before.proxy) * 10) / r.logins);
          backendCpu.push(backendMs);
        } else {
          backendDirectCpu.push(backendMs);
        }
      }
      pairRatio.push(proxied[pair]! / direct[pair]!);
      // The backend's CPU per login grows as its load falls (each wake-up serves fewer events), and
      // the proxied windows load it less whenever the proxy's CPU or round trips set their rate: its
      // capacity is compared at equal load with a direct window held to this pair's proxied rate.
      const before = cpuTicks(paths.direct.backendPid);
      const r = await loginRate(paths.direct.port, LOGIN_WINDOW_MS, Infinity, proxied[pair]!, concurrency);
      errors += r.errors;
      pacedRate.push(r.rate);
      backendPacedCpu.push(((cpuTicks(paths.direct.backendPid) - before) * 10) / r.logins);
      // As many logins on the proxied path, not measured: the runtime's compiler still works for
      // thousands of logins, and a backend that served fewer would still be paying for it.
      await loginRate(paths.proxied.port, WARMUP_MAX_MS, r.logins, undefined, concurrency).catch(() => undefined);
    }
  } finally {
    await paths.proxied.stop();
    await paths.direct.stop();
  }
  const spread = `${fmt(Math.min(...pairRatio), 2)}-${fmt(Math.max(...pairRatio), 2)}`;
  console.log(`login rate, ${label} (c=${concurrency}, ${PAIRS} pairs of ${LOGIN_WINDOW_MS} ms windows, ${placement()}): direct ${fmt(median(direct), 1)}/s, through the proxy ${fmt(median(proxied), 1)}/s, ratio proxy/direct ${fmt(median(pairRatio), 2)} (pairs ${spread})${errors ? ` (${errors} errors)` : ""}`);
  console.log(`  CPU per proxied login: proxy ${fmt(median(proxyCpu), 2)} ms, backend ${fmt(median(backendCpu), 2)} ms (direct login: backend ${fmt(median(backendDirectCpu), 2)} ms; the backend's includes the password check); the client's: direct ${fmt(median(clientCpu.direct), 2)} ms, proxied ${fmt(median(clientCpu.proxied), 2)} ms`);
  // Where clients are other machines (as in production), a backend's login capacity is its CPU over its CPU per login.
  console.log(`  backend login capacity through the proxy (its CPU per direct login over its CPU per proxied login): ${ratio(median(backendDirectCpu), median(backendCpu))}`);
  console.log(`  the same at equal load: direct logins held to the proxied rate (${fmt(median(pacedRate), 1)}/s) cost the backend ${fmt(median(backendPacedCpu), 2)} ms each, capacity through the proxy ${ratio(median(backendPacedCpu), median(backendCpu))}`);
  cpuShare("login", cpu);
  for (const line of cpuUseLines(use, { direct, proxied })) console.log(line);
}

async function retrScenario(): Promise<void> {
  const direct: number[] = [];
  const proxied: number[] = [];
  const proxyCpu: number[] = [];
  const cpu = { direct: [] as number[], proxied: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const viaProxy of round % 2 === 0 ? [false, true] : [true, false]) {
      const p = await path(viaProxy, {});
      const before = { proxy: p.proxyPid ? cpuTicks(p.proxyPid) : 0, backend: cpuTicks(p.backendPid), client: process.cpuUsage() };
      const r = await retrAll(p.port, "retr", PASSWORD, RETR_COUNT);
      (viaProxy ? proxied : direct).push(r.octets / 1e6 / (r.ms / 1000));
      (viaProxy ? cpu.proxied : cpu.direct).push(cpuPerUnit(before, p, r.octets / 1e6));
      if (viaProxy) proxyCpu.push(((cpuTicks(p.proxyPid!) - before.proxy) * 10) / (r.octets / 1e6));
      await p.stop();
    }
  }
  const d = median(direct);
  const x = median(proxied);
  console.log(`RETR ${RETR_COUNT} x ${RETR_OCTETS / 1000} KB in one session (${placement()}): direct ${fmt(d, 1)} MB/s, through the proxy ${fmt(x, 1)} MB/s, ratio proxy/direct ${ratio(x, d)}`);
  console.log(`  CPU on the proxy per MB relayed: ${fmt(median(proxyCpu), 2)} ms`);
  cpuShare("MB", cpu);
}

/** Opens IDLE logged-in sessions through the proxy (16 logins at a time); memory per session on each tier. */
async function idleScenario(): Promise<void> {
  const p = await path(true, { POPPIN_AUTH_CACHE_TTL: "300" });
  // one session first, so the figures below leave out what the first login loads
  const first = await Pop3Connection.connect(p.port);
  await first.login("login0", PASSWORD);
  await Bun.sleep(200);
  const proxyBase = treeMemory([p.proxyPid!]).rssKb;
  const backendBase = treeMemory([p.backendPid]).rssKb;
  const sessions: Pop3Connection[] = [];
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < IDLE) {
      const user = `idle${next++}`;
      const c = await Pop3Connection.connect(p.port);
      try {
        await c.login(user, PASSWORD);
        sessions.push(c);
      } catch {
        failed++;
        c.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await Bun.sleep(1000);
  const proxyKb = (treeMemory([p.proxyPid!]).rssKb - proxyBase) / sessions.length;
  const backendKb = (treeMemory([p.backendPid]).rssKb - backendBase) / sessions.length;
  console.log(`idle logged-in sessions: ${sessions.length}${failed ? ` (${failed} failed)` : ""}; RSS per session: proxy ${fmt(proxyKb, 1)} KB (goal <= 64 KB), backend ${fmt(backendKb, 1)} KB`);
  for (const c of [first, ...sessions]) c.destroy();
  await p.stop();
}

try {
  console.log(`proxy bench: poppin ${POPPIN}, ${CPUS} CPUs`);
  for (const p of PLACEMENTS) {
    if (p !== "shared" && !canSeparate) {
      console.log(`placement ${p}: skipped (needs 2 CPUs or more and taskset)`);
      continue;
    }
    placing = p;
    pinClient();
    if (wanted("login")) await loginScenario("a yescrypt check per login", {});
    if (wanted("cache")) await loginScenario("backend credential cache on", { POPPIN_AUTH_CACHE_TTL: "300" });
    if (wanted("capacity")) await loginScenario("backend credential cache on, enough clients to keep the CPUs busy", { POPPIN_AUTH_CACHE_TTL: "300" }, CAPACITY_CONCURRENCY);
    if (wanted("retr")) await retrScenario();
  }
  placing = "shared";
  pinClient();
  if (wanted("idle")) await idleScenario();
} finally {
  rmSync(root, { recursive: true, force: true });
}

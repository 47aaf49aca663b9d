/**
 * Standalone mode and performance: poppin's classic chain (`serve ... popup
 * checkpassword pop3d`), `serve --inline`, and Debian's Dovecot POP3, on the same
 * users, the same Maildirs, in the same run; once with virtual users (poppin's user
 * database with serve -u, Dovecot's passwd-file; yescrypt hashes on both sides) and once
 * with system users (accounts made with useradd, yescrypt hashes in /etc/shadow set by
 * chpasswd, each user's own ~/Maildir; serve stays root, Dovecot uses passdb shadow and
 * userdb passwd): login at concurrency 8 and RETR throughput, with the issue's targets.
 * Scenarios: login rate at concurrency 1/8/32 (and with both credential caches on),
 * RETR throughput (1,000 x 100 KB and 20,000 x 4 KB in one session), a 100,000-message
 * Maildir (PASS to STAT's +OK, full UIDL, full LIST; first and next sessions), memory of
 * idle authenticated sessions (300 each; 10,000 for --inline), DELE of 1,000 + QUIT.
 * Medians of 3 rounds, servers alternating within each round; ratios poppin/Dovecot.
 *
 * BENCH_ONLY=login,cache,retr,big,dele,idle,system runs only the scenarios named (for working on one).
 * Default: about 3-4 minutes. `--full` (or BENCH_FULL=1): 5 s login windows and 10,000
 * idle Dovecot sessions too (10,000 processes: several GB). Needs root (Dovecot's master,
 * the mail uid switch); uses dist/poppin or $POPPIN_BIN.
 */
import { chownSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { dovecotAvailable, startDovecot, type DovecotServer } from "./dovecot_harness.ts";
import { benchRoot, chownTree, fillMaildir, median, portCounter, requireBinaryAndRoot } from "./fixtures.ts";
import { deleAll, loginRate, openIdle, retrAll, statTimes, type Pop3Connection } from "./standalone_client.ts";
import { processTree, startPoppin, treeMemory, type PoppinServer } from "./standalone_servers.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const FULL = process.argv.includes("--full") || process.env.BENCH_FULL === "1";
const ROUNDS = 3;
const LOGIN_WINDOW_MS = FULL ? 5000 : 1500;
const BIG = Number(process.env.BENCH_BIG_MESSAGES ?? 100_000);
const ONLY = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const wanted = (scenario: string) => ONLY === undefined || ONLY.includes(scenario);
const IDLE_SMALL = 300;
const IDLE_LARGE_WANTED = 10_000;
const UID = 65534;
const GID = 65534;
const PASSWORD = "bench-password";

requireBinaryAndRoot(POPPIN, "standalone", "Dovecot's master and the mail uid switch");
// 10,000 idle sessions need 10,000 descriptors in the server and as many here: raise the soft
// limit up to the hard one and run again under it (servers started from here inherit it).
const NOFILE_NEEDED = IDLE_LARGE_WANTED + 1000;
const limitOf = (flag: string) => {
  const text = Bun.spawnSync(["sh", "-c", `ulimit ${flag}`]).stdout.toString().trim();
  return text === "unlimited" ? Infinity : Number(text);
};
const softNofile = limitOf("-n");
const hardNofile = limitOf("-Hn");
if (softNofile < NOFILE_NEEDED && hardNofile > softNofile && process.env.BENCH_NOFILE_RAISED !== "1") {
  const target = Math.min(hardNofile, NOFILE_NEEDED * 2);
  const again = Bun.spawnSync(["sh", "-c", `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, import.meta.path, ...process.argv.slice(2)], {
    stdout: "inherit", stderr: "inherit", env: { ...process.env, BENCH_NOFILE_RAISED: "1" },
  });
  process.exit(again.exitCode ?? 1);
}
const IDLE_LARGE = Math.min(IDLE_LARGE_WANTED, Math.floor(softNofile - 1000));
if (IDLE_LARGE < IDLE_LARGE_WANTED) console.log(`descriptor limit ${softNofile}: ${IDLE_LARGE} idle sessions instead of ${IDLE_LARGE_WANTED}`);
const haveDovecot = dovecotAvailable();
if (!haveDovecot) console.log("Dovecot not installed (apt-get install dovecot-core dovecot-pop3d): poppin figures only");

const root = benchRoot("standalone");
const nextPort = portCounter();

// ---------- mail and users


const homes = join(root, "homes");
mkdirSync(homes);
const userdb = join(root, "users");
function addUser(login: string): string {
  const home = join(homes, login);
  mkdirSync(home, { recursive: true });
  const r = Bun.spawnSync([POPPIN, "users", "-f", userdb, "add", login, String(UID), String(GID), home], { stdin: Buffer.from(`${PASSWORD}\n`) });
  if (r.exitCode !== 0) throw new Error(`users add ${login}: ${r.stderr}`);
  return home;
}

let t = performance.now();
const loginHome = addUser("login");
fillMaildir(join(loginHome, "Maildir"), 3, () => 2000);
const idleHome = addUser("idle");
fillMaildir(join(idleHome, "Maildir"), 3, () => 2000);
const retrBigHome = addUser("retr100k");
const retrBigOctets = wanted("retr") || wanted("system") ? fillMaildir(join(retrBigHome, "Maildir"), 1000, () => 100 * 1024) : 0;
const retrSmallHome = addUser("retr4k");
const retrSmallOctets = wanted("retr") || wanted("system") ? fillMaildir(join(retrSmallHome, "Maildir"), 20_000, () => 4 * 1024) : 0;
const bigHome = addUser("big");
if (wanted("big")) fillMaildir(join(bigHome, "Maildir"), BIG, (i) => 600 + (i % 7) * 300);
const deleHome = addUser("dele");
const deleTemplate = join(root, "dele-template");
fillMaildir(deleTemplate, 1000, () => 2000);
chownTree(homes, UID, GID);
chownSync(userdb, UID, GID);
console.log(`made users and ${(1000 + 20_000 + BIG + 1006).toLocaleString("en")} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const users = readFileSync(userdb, "utf8").split("\n").filter((l) => l.includes(":")).map((l) => {
  const [login, hash, uid, gid, home] = l.split(":");
  // The hash field holds the crypt hash, then the SCRAM keys: Dovecot's CRYPT scheme gets the first.
  return { login: login!, hash: hash!.split(" ")[0]!, uid: Number(uid), gid: Number(gid), home: home! };
});


// System accounts (useradd, chpasswd's yescrypt in /etc/shadow), each with its own Maildir:
// copies of the virtual users' mail, given to the account.
const systemUsers: string[] = [];
function removeSystemUsers(): void {
  for (const name of systemUsers.splice(0)) Bun.spawnSync(["userdel", "-f", name]);
}
function systemAccount(tag: string, from: string): string {
  const login = `pb${tag}${randomBytes(3).toString("hex")}`;
  const home = join(root, "system-homes", login);
  const must = (argv: string[], stdin?: string) => {
    const r = Bun.spawnSync(argv, { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin) });
    if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  };
  must(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-U", login]);
  systemUsers.push(login);
  must(["chpasswd", "-c", "YESCRYPT"], `${login}:${PASSWORD}\n`);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  cpSync(join(from, "Maildir"), join(home, "Maildir"), { recursive: true });
  must(["chown", "-R", `${login}:${login}`, home]);
  return login;
}
function systemAccounts(): { login: string; retr100k: string; retr4k: string } {
  const t0 = performance.now();
  mkdirSync(join(root, "system-homes"), { recursive: true, mode: 0o755 });
  const made = { login: systemAccount("l", loginHome), retr100k: systemAccount("b", retrBigHome), retr4k: systemAccount("s", retrSmallHome) };
  console.log(`  (system accounts ${Object.values(made).join(", ")} made in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return made;
}

// ---------- servers

type Name = "classic" | "inline" | "dovecot";
const NAMES: Name[] = haveDovecot ? ["classic", "inline", "dovecot"] : ["classic", "inline"];
const running: { stop(): Promise<void> }[] = [];
const noLock = ["--mailbox-lock=none"]; // Dovecot's default (pop3_lock_session = no); concurrent sessions of one user
async function poppin(mode: "classic" | "inline", limit: number, env: Record<string, string> = {}): Promise<PoppinServer> {
  const s = await startPoppin({ poppin: POPPIN, mode, userdb, uid: UID, gid: GID, limit, popupOptions: noLock, env });
  running.push(s);
  return s;
}
/** Dovecot on the next port below the ephemeral range; the one after if another server holds it. */
async function startDovecotOnFreePort(o: Omit<Parameters<typeof startDovecot>[0], "port" | "root">, label: string): Promise<DovecotServer> {
  for (let attempt = 1; ; attempt++) {
    const port = nextPort();
    const dir = join(root, `dovecot-${label}-${port}`);
    mkdirSync(dir);
    try {
      const s = await startDovecot({ ...o, root: dir, port });
      running.push(s);
      return s;
    } catch (err) {
      if (attempt >= 5 || !/exited .* before it listened/.test((err as Error).message)) throw err;
    }
  }
}
async function dovecot(cache: boolean, maxSessions: number): Promise<DovecotServer> {
  return startDovecotOnFreePort({ users, authCacheSize: cache ? "10M" : "0", maxSessions }, "virtual");
}

const table: string[] = [];
/** Every row's figures by label, for the targets at the end. */
const measured = new Map<string, Partial<Record<Name, number>>>();
function row(label: string, figures: Partial<Record<Name, number>>, unit: string, higherIsBetter: boolean, digits = 1): void {
  measured.set(label, figures);
  const cell = (n: Name) => (figures[n] === undefined ? "n/a" : `${figures[n]!.toFixed(digits)} ${unit}`);
  const ratio = (n: Name) => {
    if (figures[n] === undefined || figures.dovecot === undefined) return "";
    const r = figures[n]! / figures.dovecot;
    return `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;
  };
  const line = `| ${label} | ${cell("classic")} | ${cell("inline")} | ${cell("dovecot")} | ${ratio("classic")} | ${ratio("inline")} | ${higherIsBetter ? "higher" : "lower"} |`;
  table.push(line);
  console.log(line);
}

async function rounds<T>(names: Name[], fn: (name: Name, round: number) => Promise<T>): Promise<Record<Name, T[]>> {
  const out = {} as Record<Name, T[]>;
  for (const n of names) out[n] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order each round, so no server always runs right after another.
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) out[n].push(await fn(n, r));
  }
  return out;
}

// Interrupted: stop the servers (Dovecot's master would outlive us) and remove the mail.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void Promise.all(running.map((s) => s.stop().catch(() => {}))).finally(() => {
      removeSystemUsers();
      rmSync(root, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

try {
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${Math.round(Number(readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s+(\d+)/)![1]) / 1024 / 1024)} GB; Dovecot ${haveDovecot ? Bun.spawnSync(["/usr/sbin/dovecot", "--version"]).stdout.toString().trim() : "absent"}`);
  console.log("| scenario | poppin classic | poppin --inline | Dovecot | classic/Dovecot | inline/Dovecot | better |");
  console.log("|---|---|---|---|---|---|---|");
  const ports: Record<Name, number> = {} as Record<Name, number>;
  ports.classic = (await poppin("classic", 200)).port;
  ports.inline = (await poppin("inline", 20_000)).port;
  if (haveDovecot) ports.dovecot = (await dovecot(false, 1000)).port;

  // 1. login rate
  for (const c of wanted("login") ? [1, 8, 32] : []) {
    const r = await rounds(NAMES, async (n) => {
      const got = await loginRate(ports[n], "login", PASSWORD, c, LOGIN_WINDOW_MS);
      if (got.errors > 0) console.log(`  (${n} c=${c}: ${got.errors} failed sessions)`);
      return got.rate;
    });
    row(`login c=${c} (yescrypt)`, Object.fromEntries(NAMES.map((n) => [n, median(r[n])])), "/s", true);
  }
  if (wanted("cache")) {
    const cachedInline = await poppin("inline", 20_000, { POPPIN_AUTH_CACHE_TTL: "3600" });
    const cachedPorts: Partial<Record<Name, number>> = { inline: cachedInline.port };
    if (haveDovecot) cachedPorts.dovecot = (await dovecot(true, 1000)).port;
    const names = NAMES.filter((n) => n !== "classic");
    for (const c of [1, 8, 32]) {
      const r = await rounds(names, async (n) => (await loginRate(cachedPorts[n]!, "login", PASSWORD, c, LOGIN_WINDOW_MS)).rate);
      row(`login c=${c}, credential caches on`, Object.fromEntries(names.map((n) => [n, median(r[n])])), "/s", true);
    }
  }

  // 2. RETR throughput (the first session of each server warms caches and Dovecot's index)
  for (const [user, count, octets] of wanted("retr") ? [["retr100k", 1000, retrBigOctets], ["retr4k", 20_000, retrSmallOctets]] as const : []) {
    for (const n of NAMES) await retrAll(ports[n], user, PASSWORD, count);
    const r = await rounds(NAMES, async (n) => {
      const got = await retrAll(ports[n], user, PASSWORD, count);
      if (got.octets < octets) throw new Error(`${n} sent ${got.octets} < ${octets} octets`);
      return got.ms;
    });
    const label = user === "retr100k" ? "1,000 x 100 KB" : "20,000 x 4 KB";
    row(`RETR ${label}: MB/s`, Object.fromEntries(NAMES.map((n) => [n, octets / 1e6 / (median(r[n]) / 1000)])), "MB/s", true);
    row(`RETR ${label}: messages/s`, Object.fromEntries(NAMES.map((n) => [n, count / (median(r[n]) / 1000)])), "/s", true, 0);
  }

  // 3. the big Maildir: first session of each server (Dovecot builds its index), then the next ones
  if (wanted("big")) {
    const first: Partial<Record<Name, Awaited<ReturnType<typeof statTimes>>>> = {};
    for (const n of NAMES) first[n] = await statTimes(ports[n], "big", PASSWORD);
    const stats = new Set(NAMES.map((n) => first[n]!.stat));
    if (stats.size !== 1) console.log(`  STAT answers differ: ${NAMES.map((n) => `${n} "${first[n]!.stat}"`).join(", ")}`);
    const r = await rounds(NAMES, (n) => statTimes(ports[n], "big", PASSWORD));
    const k = `${(BIG / 1000).toFixed(0)}k`;
    row(`${k} msgs: PASS to STAT, first session`, Object.fromEntries(NAMES.map((n) => [n, first[n]!.statMs])), "ms", false, 0);
    row(`${k} msgs: PASS to STAT, next sessions`, Object.fromEntries(NAMES.map((n) => [n, median(r[n].map((x) => x.statMs))])), "ms", false, 0);
    row(`${k} msgs: full UIDL`, Object.fromEntries(NAMES.map((n) => [n, median(r[n].map((x) => x.uidlMs))])), "ms", false, 0);
    row(`${k} msgs: full LIST`, Object.fromEntries(NAMES.map((n) => [n, median(r[n].map((x) => x.listMs))])), "ms", false, 0);
  }

  // 5. DELE of 1,000 messages and QUIT (a fresh copy of the Maildir each time)
  if (wanted("dele")) {
    const r = await rounds(NAMES, async (n) => {
      const md = join(deleHome, "Maildir");
      rmSync(md, { recursive: true, force: true });
      cpSync(deleTemplate, md, { recursive: true });
      chownTree(md, UID, GID);
      const got = await deleAll(ports[n], "dele", PASSWORD, 1000);
      if (!got.quit.startsWith("+OK")) throw new Error(`${n} QUIT: ${got.quit}`);
      if (readdirSync(join(md, "cur")).length !== 0) throw new Error(`${n} left messages after DELE + QUIT`);
      return got.ms;
    });
    row("DELE 1,000 + QUIT", Object.fromEntries(NAMES.map((n) => [n, median(r[n])])), "ms", false, 0);
  }

  // 4. memory of idle authenticated sessions (fresh servers; logins through the credential caches where there are any)
  for (const [count, names] of wanted("idle") ? [[IDLE_SMALL, NAMES], [IDLE_LARGE, NAMES.filter((n) => n === "inline" || (FULL && n === "dovecot"))]] as const : []) {
    const rss: Partial<Record<Name, number>> = {};
    const pss: Partial<Record<Name, number>> = {};
    for (const n of names) {
      const server = n === "dovecot" ? await dovecot(true, count + 100)
        : await poppin(n, count + 100, n === "inline" ? { POPPIN_AUTH_CACHE_TTL: "3600" } : {});
      await loginRate(server.port, "idle", PASSWORD, 1, 200); // warm: workers, caches, Dovecot's index
      await Bun.sleep(300);
      const before = treeMemory(processTree(server.pid));
      let sessions: Pop3Connection[] = [];
      const t0 = performance.now();
      try {
        sessions = await openIdle(server.port, "idle", PASSWORD, count, n === "classic" ? 8 : 32);
      } catch (e) {
        console.log(`  ${n}: ${count} idle sessions failed after ${sessions.length}: ${(e as Error).message}`);
      }
      await Bun.sleep(1000);
      const after = treeMemory(processTree(server.pid));
      const opened = sessions.length;
      console.log(`  ${n}: ${opened}/${count} idle sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${after.processes} processes; RSS ${(after.rssKb / 1024).toFixed(0)} MB, PSS ${(after.pssKb / 1024).toFixed(0)} MB`);
      if (opened === count) {
        rss[n] = (after.rssKb - before.rssKb) / count;
        pss[n] = (after.pssKb - before.pssKb) / count;
      }
      for (const s of sessions) s.destroy();
      await server.stop();
    }
    row(`${count.toLocaleString("en")} idle sessions: RSS per session`, rss, "KB", false, 0);
    row(`${count.toLocaleString("en")} idle sessions: PSS per session`, pss, "KB", false, 0);
  }
  // 6. system users: serve as root, yescrypt hashes in /etc/shadow, each user's own Maildir
  if (wanted("system")) {
    const sys = systemAccounts();
    const sysPorts: Record<Name, number> = {} as Record<Name, number>;
    for (const mode of ["classic", "inline"] as const) {
      const s = await startPoppin({ poppin: POPPIN, mode, limit: mode === "inline" ? 20_000 : 200, popupOptions: noLock });
      running.push(s);
      sysPorts[mode] = s.port;
    }
    if (haveDovecot) {
      sysPorts.dovecot = (await startDovecotOnFreePort({ users: "system", authCacheSize: "0", maxSessions: 1000 }, "system")).port;
    }
    for (const c of [8]) {
      const r = await rounds(NAMES, async (n) => {
        const got = await loginRate(sysPorts[n], sys.login, PASSWORD, c, LOGIN_WINDOW_MS);
        if (got.errors > 0) console.log(`  (${n} system c=${c}: ${got.errors} failed sessions)`);
        return got.rate;
      });
      row(`system users: login c=${c} (yescrypt)`, Object.fromEntries(NAMES.map((n) => [n, median(r[n])])), "/s", true);
    }
    for (const [user, count, octets, label] of [[sys.retr100k, 1000, retrBigOctets, "1,000 x 100 KB"], [sys.retr4k, 20_000, retrSmallOctets, "20,000 x 4 KB"]] as const) {
      for (const n of NAMES) await retrAll(sysPorts[n], user, PASSWORD, count);
      const r = await rounds(NAMES, async (n) => {
        const got = await retrAll(sysPorts[n], user, PASSWORD, count);
        if (got.octets < octets) throw new Error(`${n} sent ${got.octets} < ${octets} octets to a system user`);
        return got.ms;
      });
      row(`system users: RETR ${label}: MB/s`, Object.fromEntries(NAMES.map((n) => [n, octets / 1e6 / (median(r[n]) / 1000)])), "MB/s", true);
    }
  }
} finally {
  for (const s of running) await s.stop().catch(() => {});
  removeSystemUsers();
  rmSync(root, { recursive: true, force: true });
}
// The targets: --inline against Dovecot in this run.
const TARGETS: [label: string, ratio: number][] = [
  ["login c=8 (yescrypt)", 2], ["system users: login c=8 (yescrypt)", 1.5],
  ["RETR 1,000 x 100 KB: MB/s", 2.5], ["system users: RETR 1,000 x 100 KB: MB/s", 2],
  ["RETR 20,000 x 4 KB: MB/s", 2], ["system users: RETR 20,000 x 4 KB: MB/s", 2],
];
if (haveDovecot) {
  console.log("\ntargets (--inline / Dovecot):");
  for (const [label, want] of TARGETS) {
    const f = measured.get(label);
    if (f?.inline === undefined || f.dovecot === undefined) continue;
    const got = f.inline / f.dovecot;
    console.log(`  ${label}: ${got.toFixed(2)}x, target >= ${want}x: ${got >= want ? "met" : "MISSED"}`);
  }
}
console.log("\nMarkdown table (docs/benchmarks.md):\n" + ["| scenario | poppin classic | poppin --inline | Dovecot | classic/Dovecot | inline/Dovecot | better |", "|---|---|---|---|---|---|---|", ...table].join("\n"));

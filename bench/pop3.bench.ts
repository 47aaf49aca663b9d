/**
 * POP3 benchmark (issue 3): pop3d session start + STAT on a 100,000-message Maildir, and
 * RETR of 1,000 x 100 KB, against Debian's Dovecot POP3 (dovecot-pop3d, run pre-authenticated
 * on the same Maildir: the counterpart of qmail-pop3d after checkpassword) when installed.
 * Both servers read pipelined commands from a pipe and answer into a pipe, as the same
 * unprivileged user (Dovecot refuses root). Uses dist/poppin or $POPPIN_BIN. Bounded: < ~60 s.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const DOVECOT_POP3 = "/usr/lib/dovecot/pop3";
const SETUIDGID = Bun.which("setuidgid", { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" });
const STAT_MESSAGES = Number(process.env.BENCH_POP3_MESSAGES ?? 100_000);
const RETR_MESSAGES = 1000;
const RETR_SIZE = 100 * 1024;
const RUNS = 3;

if (!existsSync(POPPIN)) {
  console.error(`${POPPIN} missing: run npm run build (or set POPPIN_BIN)`);
  process.exit(1);
}

// tmpfs when there is one: making 100,000 files on a disk alone can take longer than the budget.
const root = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "poppin-bench-pop3-"));
chmodSync(root, 0o755);
const asRoot = process.getuid?.() === 0;
// Dovecot refuses to serve mail as root: run both servers as nobody when we are root.
const runAs = asRoot && SETUIDGID ? ["nobody"] : undefined;
const nobody = { uid: 65534, gid: 65534 };

function message(i: number, bodyOctets: number): Buffer {
  const head = `From: sender${i}@example.org\nTo: joe@example.org\nSubject: message ${i}\nMessage-ID: <${i}@example.org>\n\n`;
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\n";
  const body = line.repeat(Math.ceil(bodyOctets / line.length)).slice(0, Math.max(0, bodyOctets - head.length - 1)) + "\n";
  return Buffer.from(head + body);
}

/** A Maildir with `count` messages in cur/, named as `poppin deliver` names them (,S= and ,W=). */
function makeMaildir(name: string, count: number, octets: (i: number) => number): string {
  const home = join(root, name);
  const md = join(home, "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  for (let i = 0; i < count; i++) {
    const m = message(i, octets(i));
    const lines = m.toString("latin1").split("\n").length - 1;
    writeFileSync(join(md, "cur", `${1700000000 + i}.M${i % 1000000}P${1000 + (i % 30000)}.bench.example,S=${m.length},W=${m.length + lines}:2,S`), m);
  }
  if (runAs) Bun.spawnSync(["chown", "-R", `${nobody.uid}:${nobody.gid}`, home]);
  return home;
}

function dovecotConfig(home: string): string {
  const conf = join(home, "dovecot.conf");
  for (const sub of ["run", "state"]) mkdirSync(join(home, sub), { recursive: true });
  writeFileSync(conf, [
    `base_dir = ${home}/run`,
    `state_dir = ${home}/state`,
    "log_path = /dev/null",
    `mail_location = maildir:${home}/Maildir`,
    "protocols = pop3",
    "ssl = no",
    "pop3_uidl_format = %f",
    "first_valid_uid = 0",
    "first_valid_gid = 0",
    "",
  ].join("\n"));
  if (runAs) Bun.spawnSync(["chown", "-R", `${nobody.uid}:${nobody.gid}`, home]);
  return conf;
}

type Server = "poppin" | "dovecot";

function command(server: Server, home: string, conf: string): string[] {
  const prefix = runAs ? [SETUIDGID!, ...runAs] : [];
  if (server === "poppin") return [...prefix, POPPIN, "pop3d", "Maildir"];
  return [...prefix, "env", `USER=${runAs ? "nobody" : process.env.USER ?? "root"}`, `HOME=${home}`, DOVECOT_POP3, "-c", conf];
}

/**
 * Runs one session: pipelined `commands` on a pipe (Dovecot needs a pollable stdin), the
 * answers read from a pipe and counted. Returns milliseconds, octets received, and the start.
 */
async function session(server: Server, home: string, conf: string, commands: string): Promise<{ ms: number; octets: number; head: string }> {
  const started = performance.now();
  const proc = Bun.spawn(command(server, home, conf), {
    cwd: home,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
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
  if (code !== 0) throw new Error(`${server} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { ms, octets, head };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const haveDovecot = existsSync(DOVECOT_POP3) && (!asRoot || runAs !== undefined);
const servers: Server[] = haveDovecot ? ["poppin", "dovecot"] : ["poppin"];
if (!haveDovecot) console.log("Dovecot POP3 not installed (apt-get install dovecot-pop3d): poppin figures only");

function row(label: string, figures: Record<string, number>, unit: string, lowerIsBetter = true): void {
  const cells = servers.map((s) => `${s} ${figures[s]!.toFixed(unit === "MB/s" ? 0 : 1)} ${unit}`);
  let ratio = "";
  if (figures.dovecot !== undefined) {
    const r = lowerIsBetter ? figures.dovecot / figures.poppin! : figures.poppin! / figures.dovecot;
    ratio = `  poppin is ${r.toFixed(2)}x ${r >= 1 ? "faster" : "slower"} than Dovecot`;
  }
  console.log(`${label.padEnd(44)} ${cells.join("   ")}${ratio}`);
}

try {
  // 1. Session start + STAT + QUIT on a large Maildir.
  let t = performance.now();
  const big = makeMaildir("stat", STAT_MESSAGES, (i) => 600 + (i % 7) * 300);
  const bigConf = dovecotConfig(big);
  console.log(`made ${STAT_MESSAGES} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const first: Record<string, number> = {};
  const warm: Record<string, number> = {};
  for (const s of servers) {
    first[s] = (await session(s, big, bigConf, "STAT\r\nQUIT\r\n")).ms;
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push((await session(s, big, bigConf, "STAT\r\nQUIT\r\n")).ms);
    warm[s] = median(times);
  }
  // Both must agree on the mailbox: the same STAT answer.
  const stats: string[] = [];
  for (const s of servers) {
    const { head } = await session(s, big, bigConf, "STAT\r\nQUIT\r\n");
    stats.push(head.split("\r\n").find((l) => /^\+OK \d+ \d+$/.test(l)) ?? head);
  }
  console.log(`STAT answers: ${servers.map((s, i) => `${s} "${stats[i]}"`).join(", ")}`);
  row(`start + STAT, ${STAT_MESSAGES} msgs, first session`, first, "ms");
  row(`start + STAT, ${STAT_MESSAGES} msgs, next sessions`, warm, "ms");
  rmSync(big, { recursive: true, force: true });

  // 2. RETR of 1,000 x 100 KB in one pipelined session.
  t = performance.now();
  const retr = makeMaildir("retr", RETR_MESSAGES, () => RETR_SIZE);
  const retrConf = dovecotConfig(retr);
  const commands = Array.from({ length: RETR_MESSAGES }, (_, i) => `RETR ${i + 1}\r\n`).join("") + "QUIT\r\n";
  const sizes: Record<string, number> = {};
  for (const s of servers) sizes[s] = (await session(s, retr, retrConf, commands)).octets; // also warms Dovecot's index
  const throughput: Record<string, number> = {};
  const elapsed: Record<string, number> = {};
  for (const s of servers) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push((await session(s, retr, retrConf, commands)).ms);
    elapsed[s] = median(times);
    throughput[s] = (RETR_MESSAGES * RETR_SIZE) / 1e6 / (elapsed[s]! / 1000);
  }
  console.log(`RETR output octets: ${servers.map((s) => `${s} ${sizes[s]}`).join(", ")}`);
  row(`RETR 1000 x 100 KB, one session`, elapsed, "ms");
  row(`RETR 1000 x 100 KB, throughput`, throughput, "MB/s", false);
} finally {
  rmSync(root, { recursive: true, force: true });
}

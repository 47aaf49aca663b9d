/**
 * POP3 benchmark (issue 3): pop3d session start + STAT on a 100,000-message Maildir, and
 * RETR of 1,000 x 100 KB, against Debian's Dovecot POP3 (dovecot-pop3d, run pre-authenticated
 * on the same Maildir: the counterpart of qmail-pop3d after checkpassword) when installed.
 * Both servers read pipelined commands from a pipe and answer into a pipe, as the same
 * unprivileged user (Dovecot refuses root). Uses dist/poppin or $POPPIN_BIN. Bounded: < ~60 s.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { preauthDovecot, preauthRunner } from "./dovecot_harness.ts";
import { fillMaildir, median, pipedSession, statAnswer } from "./fixtures.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
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
const runner = preauthRunner();

type Server = "poppin" | "dovecot";
interface Mailbox { home: string; argv: Record<Server, string[]> }

/** A home with a Maildir of `count` messages, and how each server is run on it. */
function makeMailbox(name: string, count: number, octets: (i: number) => number): Mailbox {
  const home = join(root, name);
  fillMaildir(join(home, "Maildir"), count, octets);
  const dovecot = preauthDovecot(runner, home, `maildir:${home}/Maildir`, ["pop3_uidl_format = %f"]);
  return { home, argv: { poppin: [...runner.prefix, POPPIN, "pop3d", "Maildir"], dovecot } };
}

function session(server: Server, box: Mailbox, commands: string) {
  return pipedSession(box.argv[server], box.home, commands);
}

const servers: Server[] = runner.dovecot ? ["poppin", "dovecot"] : ["poppin"];
if (!runner.dovecot) console.log("Dovecot POP3 not installed (apt-get install dovecot-pop3d): poppin figures only");

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
  const big = makeMailbox("stat", STAT_MESSAGES, (i) => 600 + (i % 7) * 300);
  console.log(`made ${STAT_MESSAGES} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const first: Record<string, number> = {};
  const warm: Record<string, number> = {};
  for (const s of servers) {
    first[s] = (await session(s, big, "STAT\r\nQUIT\r\n")).ms;
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push((await session(s, big, "STAT\r\nQUIT\r\n")).ms);
    warm[s] = median(times);
  }
  // Both must agree on the mailbox: the same STAT answer.
  const stats: string[] = [];
  for (const s of servers) {
    const { head } = await session(s, big, "STAT\r\nQUIT\r\n");
    stats.push(statAnswer(head));
  }
  console.log(`STAT answers: ${servers.map((s, i) => `${s} "${stats[i]}"`).join(", ")}`);
  row(`start + STAT, ${STAT_MESSAGES} msgs, first session`, first, "ms");
  row(`start + STAT, ${STAT_MESSAGES} msgs, next sessions`, warm, "ms");
  rmSync(big.home, { recursive: true, force: true });

  // 2. RETR of 1,000 x 100 KB in one pipelined session.
  t = performance.now();
  const retr = makeMailbox("retr", RETR_MESSAGES, () => RETR_SIZE);
  const commands = Array.from({ length: RETR_MESSAGES }, (_, i) => `RETR ${i + 1}\r\n`).join("") + "QUIT\r\n";
  const sizes: Record<string, number> = {};
  for (const s of servers) sizes[s] = (await session(s, retr, commands)).octets; // also warms Dovecot's index
  const throughput: Record<string, number> = {};
  const elapsed: Record<string, number> = {};
  for (const s of servers) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push((await session(s, retr, commands)).ms);
    elapsed[s] = median(times);
    throughput[s] = (RETR_MESSAGES * RETR_SIZE) / 1e6 / (elapsed[s]! / 1000);
  }
  console.log(`RETR output octets: ${servers.map((s) => `${s} ${sizes[s]}`).join(", ")}`);
  row(`RETR 1000 x 100 KB, one session`, elapsed, "ms");
  row(`RETR 1000 x 100 KB, throughput`, throughput, "MB/s", false);
} finally {
  rmSync(root, { recursive: true, force: true });
}

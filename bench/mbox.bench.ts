/**
 * mbox benchmark (issue 10): a spool of 2,000 messages (100 MB; `--full`: 20,000 messages,
 * 1 GB), each phase on a fresh copy of it: session start + STAT (first and next sessions),
 * RETR of every message in one session (then QUIT, which marks them Status: RO), and
 * DELE of every other message then QUIT (the spool rewritten). Against Debian's Dovecot
 * POP3 on the same spool (mail_location = mbox:...:INBOX=spool), run pre-authenticated
 * the same way, as the same unprivileged user. Uses dist/poppin or $POPPIN_BIN.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { preauthDovecot, preauthRunner } from "./dovecot_harness.ts";
import { median, pipedSession, statAnswer } from "./fixtures.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const FULL = process.argv.includes("--full");
const MESSAGES = FULL ? 20_000 : 2_000;
const MESSAGE_OCTETS = 50 * 1024; // 20,000 x 50 KiB = 1 GB
const RUNS = FULL ? 1 : 3;

if (!existsSync(POPPIN)) {
  console.error(`${POPPIN} missing: run npm run build (or set POPPIN_BIN)`);
  process.exit(1);
}

const root = mkdtempSync(join(tmpdir(), "poppin-bench-mbox-"));
chmodSync(root, 0o755);
const runner = preauthRunner();

function writeTemplate(path: string): void {
  const fd = openSync(path, "w");
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\n";
  const body = line.repeat(Math.floor(MESSAGE_OCTETS / line.length));
  const batch: string[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    batch.push(`From sender${i}@example.org Mon Jan  1 00:00:00 2024\nFrom: sender${i}@example.org\nTo: joe@example.org\nSubject: message ${i}\nMessage-ID: <${i}@example.org>\n\n${body}\n`);
    if (batch.length === 200) {
      writeSync(fd, batch.join(""));
      batch.length = 0;
    }
  }
  writeSync(fd, batch.join(""));
  closeSync(fd);
}

type Server = "poppin" | "dovecot";
interface Spool { home: string; argv: Record<Server, string[]> }

/** A home with a copy of the template spool, and how each server is run on it. */
function freshHome(name: string, template: string): Spool {
  const home = join(root, name);
  rmSync(home, { recursive: true, force: true });
  mkdirSync(join(home, "mail"), { recursive: true });
  copyFileSync(template, join(home, "spool"));
  const dovecot = preauthDovecot(runner, home, `mbox:${home}/mail:INBOX=${home}/spool`, ["mbox_read_locks = fcntl", "mbox_write_locks = dotlock fcntl"]);
  return { home, argv: { poppin: [...runner.prefix, "env", `USER=${runner.user}`, `HOME=${home}`, POPPIN, "pop3d", "mbox:spool"], dovecot } };
}

function session(server: Server, spool: Spool, commands: string) {
  return pipedSession(spool.argv[server], spool.home, commands);
}

const servers: Server[] = runner.dovecot ? ["poppin", "dovecot"] : ["poppin"];
if (!runner.dovecot) console.log("Dovecot POP3 not installed (apt-get install dovecot-pop3d): poppin figures only");

function row(label: string, figures: Record<string, number>, unit: string): void {
  const cells = servers.map((s) => `${s} ${figures[s]!.toFixed(0)} ${unit}`);
  const ratio = figures.dovecot !== undefined ? `  poppin is ${(figures.dovecot / figures.poppin!).toFixed(2)}x ${figures.dovecot >= figures.poppin! ? "faster" : "slower"} than Dovecot` : "";
  console.log(`${label.padEnd(40)} ${cells.join("   ")}${ratio}`);
}

try {
  const template = join(root, "template");
  let t = performance.now();
  writeTemplate(template);
  const size = statSync(template).size;
  console.log(`spool: ${MESSAGES} messages, ${(size / 1e6).toFixed(0)} MB, made in ${((performance.now() - t) / 1000).toFixed(1)} s${FULL ? "" : " (--full for 20,000 messages, 1 GB)"}`);
  const first: Record<string, number> = {};
  const next: Record<string, number> = {};
  const retr: Record<string, number> = {};
  const half: Record<string, number> = {};
  const answers: string[] = [];
  const retrAll = Array.from({ length: MESSAGES }, (_, i) => `RETR ${i + 1}\r\n`).join("") + "QUIT\r\n";
  const deleHalf = Array.from({ length: MESSAGES / 2 }, (_, i) => `DELE ${2 * i + 1}\r\n`).join("") + "QUIT\r\n";
  for (const s of servers) {
    const home = freshHome(s, template);
    first[s] = (await session(s, home, "STAT\r\nQUIT\r\n")).ms;
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push((await session(s, home, "STAT\r\nQUIT\r\n")).ms);
    next[s] = median(times);
    const { head } = await session(s, home, "STAT\r\nQUIT\r\n");
    answers.push(`${s} "${statAnswer(head)}"`);
    // RETR of everything: the session start is warm (as above), then QUIT marks every message read.
    retr[s] = (await session(s, home, retrAll)).ms;
    const homeHalf = freshHome(`${s}-half`, template);
    await session(s, homeHalf, "STAT\r\nQUIT\r\n"); // Dovecot builds its index first
    half[s] = (await session(s, homeHalf, deleHalf)).ms;
    const left = (await session(s, homeHalf, "STAT\r\nQUIT\r\n")).head;
    if (!left.includes(`+OK ${MESSAGES / 2} `)) throw new Error(`${s} left ${left}`);
    rmSync(home.home, { recursive: true, force: true });
    rmSync(homeHalf.home, { recursive: true, force: true });
  }
  console.log(`STAT answers: ${answers.join(", ")}`);
  row("session start + STAT, first session", first, "ms");
  row("session start + STAT, next sessions", next, "ms");
  row(`RETR all ${MESSAGES} + QUIT (Status: RO)`, retr, "ms");
  row(`DELE every other + QUIT (rewrite)`, half, "ms");
} finally {
  rmSync(root, { recursive: true, force: true });
}

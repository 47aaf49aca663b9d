/**
 * kill -9 at random moments in the classic chain, and the Maildir invariant after each round:
 * every delivered message is on disk exactly once, unless a QUIT that the client saw
 * answered +OK deleted it (a QUIT sent but not answered may or may not have; never twice,
 * never a message it did not mark). Used by tests/faults (50 rounds) and by
 * scripts/fuzz/kill_campaign.ts (1,000 and more).
 */
import { readFileSync } from "node:fs";
import { applet, POPPIN } from "../helpers.ts";
import { alive, chownBox, deliverId, descendants, idByUidl, idsOnDisk, LOGIN, PASSWORD, PipeClient, SocketClient, type FaultBox } from "./chain_fixture.ts";
import { prng as seededRandom } from "../prng.ts";

/** serve --inline on a free port, for the inline mode; `stop` kills it. */
interface InlineServer { pid: number; port: number; proc: ReturnType<typeof Bun.spawn> }

async function startInline(box: FaultBox, env: Record<string, string>): Promise<InlineServer> {
  const proc = Bun.spawn([POPPIN, "serve", "--inline", "-1", "-R", "-H", "-c", "20", "127.0.0.1", "0",
    POPPIN, "popup", "pop.example.org", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"], {
    cwd: box.home, env, stdin: "ignore", stdout: "pipe", stderr: "ignore",
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
  reader.releaseLock();
  const port = first && !first.done ? Number(Buffer.from(first.value).toString().trim()) : 0;
  if (!port) {
    proc.kill("SIGKILL");
    throw new Error("serve --inline did not print its port");
  }
  return { pid: proc.pid, port, proc };
}

export interface KillStats {
  rounds: number;
  kills: number;
  /** Which process was killed: the root (popup, or the serve --inline server) or one below it (checkpassword, pop3d, a session process). */
  killedPopup: number;
  killedChild: number;
  quitsAnswered: number;
  messagesDeleted: number;
  messagesDelivered: number;
  /** Sessions where popup answered "-ERR ... child crashed" in the middle of TRANSACTION. */
  childCrashReplies: number;
  violations: string[];
}

/** A small seeded generator, so a failing round can be replayed from its seed. */
export { seededRandom };

/** How many times each identity is on disk. */
function census(box: FaultBox): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { id } of idsOnDisk(box)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/**
 * serve --inline's password-check helpers and its mail workers (waiting, or kept for the user's
 * next session) belong to the server, not to a session.
 */
function isCryptHelper(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
    return argv.includes("--crypt-helper") || argv.includes("--mail-worker");
  } catch {
    return false;
  }
}

async function reap(pids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await Bun.sleep(5);
  for (const p of pids) if (alive(p)) try { process.kill(p, "SIGKILL"); } catch { /* gone */ }
}

export interface KillOptions {
  /** Messages kept in the Maildir: the harness delivers new ones to stay at this count. */
  target?: number;
  /**
   * "classic": popup runs checkpassword, which execs pop3d (POPPIN_ONE_PROCESS=0), as qmail;
   * "one-process": popup finds poppin's own chain and serves it in its own process (the default);
   * "inline": `serve --inline` over TCP; a killed server is started again for the next round.
   */
  mode?: "classic" | "one-process" | "inline";
  onRound?: (round: number, stats: KillStats) => void;
}

export async function runKillRounds(box: FaultBox, rounds: number, seed: number, opts: KillOptions = {}): Promise<KillStats> {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const stats: KillStats = { rounds: 0, kills: 0, killedPopup: 0, killedChild: 0, quitsAnswered: 0, messagesDeleted: 0, messagesDelivered: 0, childCrashReplies: 0, violations: [] };
  const present = new Set<string>(idsOnDisk(box).map((e) => e.id));
  let nextId = 0;
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: box.userdb };
  if ((opts.mode ?? "classic") === "classic") env.POPPIN_ONE_PROCESS = "0";
  const chain = [applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"];
  const inline = opts.mode === "inline";
  let server: InlineServer | undefined;

  for (let round = 0; round < rounds; round++) {
    const where = `round ${round} (seed ${seed})`;
    while (present.size < (opts.target ?? 6)) {
      const id = `s${seed}m${nextId++}`;
      if (deliverId(box, id, "x".repeat(Math.floor(random() * 3000))) !== 0) throw new Error(`${where}: deliver failed`);
      present.add(id);
      stats.messagesDelivered++;
    }
    chownBox(box);
    const before = census(box);
    for (const id of present) if (before.get(id) !== 1) stats.violations.push(`${where}: before the round ${id} is there ${before.get(id) ?? 0} times`);

    const violationsBefore = stats.violations.length;
    const roundStart = Date.now();
    let client: PipeClient | SocketClient;
    if (inline) {
      let socket: SocketClient | undefined;
      for (let attempt = 0; socket === undefined; attempt++) {
        if (server === undefined || !alive(server.pid)) server = await startInline(box, env);
        try {
          socket = await SocketClient.connect(server.port);
        } catch (e) {
          // The server killed last round may still be on its way out: start a new one.
          if (attempt >= 2) throw e;
          server.proc.kill("SIGKILL");
          await Promise.race([server.proc.exited, Bun.sleep(5_000)]);
          server = undefined;
        }
      }
      client = socket;
    } else {
      client = new PipeClient(chain, env, box.home);
    }
    // The root of what may be killed: popup (pipes) or the inline server.
    const popupPid = inline ? server!.pid : (client as PipeClient).proc.pid;
    // The script: log in, list, then RETR/DELE/RSET/NOOP at random, then QUIT (or just stop).
    const script: string[] = [`USER ${LOGIN}`, `PASS ${PASSWORD}`, "UIDL"];
    const steps = 1 + Math.floor(random() * 8);
    for (let i = 0; i < steps; i++) script.push(pick(["RETR", "DELE", "DELE", "RSET", "NOOP", "LIST", "TOP"]));
    if (random() < 0.85) script.push("QUIT");
    const killAt = random() < 0.9 ? Math.floor(random() * (script.length + 1)) : -1;
    const killDelayMs = random() * 4;
    let killed = false;
    // Every process of the chain seen, so none outlives its round (a killed popup's child is reparented).
    const seen = new Set<number>([popupPid]);
    const kill = () => {
      for (const p of descendants(popupPid)) seen.add(p);
      const victims = [...seen].filter(alive);
      if (victims.length === 0) return;
      const victim = pick(victims);
      try {
        process.kill(victim, "SIGKILL");
        killed = true;
        stats.kills++;
        if (victim === popupPid) stats.killedPopup++;
        else stats.killedChild++;
      } catch {
        // it ended by itself first
      }
    };
    const uidlToId = new Map<string, string>();
    const numberToId = new Map<number, string>();
    const marked = new Set<string>();
    let quitSent = false;
    let quitAnswered = false;
    for (let i = 0; i < script.length; i++) {
      if (i === killAt) setTimeout(kill, killDelayMs);
      let line = script[i]!;
      const n = numberToId.size > 0 ? 1 + Math.floor(random() * numberToId.size) : 1;
      if (line === "RETR" || line === "DELE" || line === "LIST") line = `${line} ${n}`;
      if (line === "TOP") line = `TOP ${n} 1`;
      const from = client.text.length;
      if (client.ended || !client.send(line)) break;
      if (line === "QUIT") quitSent = true;
      const multi = line === "UIDL" || line.startsWith("RETR") || line.startsWith("TOP");
      const answer = await client.waitFrom(from, multi ? /^(-ERR[^\n]*\n|\+OK[^]*?\r\n\.\r\n)/ : /^[+-][^\n]*\n/, 10_000);
      if (answer === null) break;
      const reply = answer[0];
      if (line === "UIDL" && reply.startsWith("+OK")) {
        const names = idByUidl(box);
        for (const m of reply.matchAll(/^(\d+) (\S+)\r$/gm)) {
          const id = names.get(m[2]!);
          if (id === undefined) stats.violations.push(`${where}: UIDL ${m[2]} has no file`);
          else {
            uidlToId.set(m[2]!, id);
            numberToId.set(Number(m[1]), id);
          }
        }
      }
      if (line.startsWith("DELE") && reply.startsWith("+OK")) marked.add(numberToId.get(n)!);
      if (line === "RSET" && reply.startsWith("+OK")) marked.clear();
      if (line === "QUIT" && reply.startsWith("+OK")) quitAnswered = true;
      // pop3d died: popup says so and goes back to AUTHORIZATION, as qmail-popup does. A QUIT
      // now would be popup's (+OK, and nothing deleted), so the TRANSACTION session is over.
      if (reply.includes("child crashed")) {
        stats.childCrashReplies++;
        break;
      }
    }
    client.closeInput();
    for (const p of descendants(popupPid)) seen.add(p);
    if (client instanceof PipeClient) await Promise.race([client.proc.exited, Bun.sleep(5_000)]);
    else {
      // The session's own processes end with the connection; a live server stays for the next round,
      // and so do its crypt helpers and mail workers (one may have been killed: the pool starts another).
      seen.delete(popupPid);
      if (alive(popupPid)) for (const p of [...seen]) if (isCryptHelper(p)) seen.delete(p);
      if (!alive(popupPid)) await Promise.race([server!.proc.exited, Bun.sleep(5_000)]);
    }
    await reap([...seen], 5_000);
    if (!killed && !quitAnswered && quitSent) stats.violations.push(`${where}: QUIT not answered without a kill: ${JSON.stringify(client.text.slice(-200))}`);

    // The invariant.
    const after = census(box);
    for (const [id, count] of after) {
      if (!present.has(id)) stats.violations.push(`${where}: unknown or resurrected message ${id}`);
      if (count > 1) stats.violations.push(`${where}: ${id} is there ${count} times`);
    }
    for (const id of present) {
      const count = after.get(id) ?? 0;
      if (marked.has(id) && quitAnswered) {
        if (count !== 0) stats.violations.push(`${where}: ${id} deleted by an answered QUIT is still there`);
      } else if (marked.has(id) && quitSent) {
        // QUIT sent, its answer lost to the kill: either way, but once at most (checked above).
      } else if (count !== 1) {
        stats.violations.push(`${where}: ${id} not deleted by any QUIT is there ${count} times`);
      }
    }
    for (const id of [...present]) {
      if ((after.get(id) ?? 0) === 0) {
        present.delete(id);
        stats.messagesDeleted++;
      }
    }
    if (stats.violations.length > violationsBefore) {
      stats.violations.push(`${where}: script ${JSON.stringify(script)}, kill before command ${killAt} (+${killDelayMs.toFixed(1)} ms, killed: ${killed}), transcript ${JSON.stringify(client.text.slice(-600))}, stderr ${JSON.stringify(client instanceof PipeClient ? (await client.stderr).slice(-400) : "(serve --inline: not kept)")}`);
    }
    if (process.env.FAULT_DEBUG) console.error(`${where}: ${Date.now() - roundStart} ms, kill at ${killAt}/${script.length} killed ${killed}, ${JSON.stringify(client.text.slice(-80))}`);
    if (quitAnswered) stats.quitsAnswered++;
    stats.rounds++;
    opts.onRound?.(round, stats);
  }
  if (server) {
    server.proc.kill("SIGKILL");
    await Promise.race([server.proc.exited, Bun.sleep(5_000)]);
  }
  return stats;
}

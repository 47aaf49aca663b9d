/**
 * kill -9 at random moments in the POP3 chain, and the Maildir invariant after each round:
 * every delivered message is on disk exactly once, unless a QUIT that the client saw
 * answered +OK deleted it (a QUIT sent but not answered may or may not have; never twice,
 * never a message it did not mark). And the service goes on: a round whose kill came after
 * the login (or that had none) logs in, and a command is left unanswered only by a kill.
 * Used by tests/faults (short runs) and by scripts/fuzz/kill_campaign.ts (1,000 and more).
 *
 * What may be killed, by kind: the root of the round (popup, or the serve --inline server);
 * the session (below popup: checkpassword and pop3d; under serve --inline as root: the mail
 * worker handed this session, or a pop3d started for it); and serve's helpers (password-check
 * helpers, mail workers waiting as root or kept for the user's next session).
 */
import { readFileSync, readlinkSync } from "node:fs";
import { applet, POPPIN } from "../helpers.ts";
import { alive, chownBox, deliverId, descendants, idByUidl, idsOnDisk, PipeClient, SocketClient, type FaultBox } from "./chain_fixture.ts";
import { prng as seededRandom } from "../prng.ts";

/** serve --inline on a free port, for the inline mode. */
export interface InlineServer { pid: number; port: number; proc: ReturnType<typeof Bun.spawn> }

/** Starts serve --inline (as the harness's user: root in CI) serving `box` with `env`. */
export async function startInline(box: FaultBox, env: Record<string, string>, asMailUid = false): Promise<InlineServer> {
  const drop = asMailUid ? ["-u", String(box.uid), "-g", String(box.gid)] : [];
  const proc = Bun.spawn([POPPIN, "serve", "--inline", ...drop, "-1", "-R", "-H", "-c", "20", "127.0.0.1", "0",
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

export type KillMode = "classic" | "one-process" | "inline";

export interface KillStats {
  rounds: number;
  kills: number;
  /** The root of the round: popup, or the serve --inline server. */
  killedRoot: number;
  /** The session's own processes: checkpassword or pop3d below popup; under serve --inline, the mail worker (or pop3d) serving it. */
  killedSession: number;
  /** serve's helpers: password-check helpers, mail workers waiting as root or kept for the user's next session. */
  killedHelper: number;
  quitsAnswered: number;
  /** QUITs sent whose answer a kill took (the update may have been cut anywhere). */
  quitsLost: number;
  /** Of those, the ones cut in the middle of the deletions (some marked messages gone, some still there). */
  quitsCutMidUpdate: number;
  messagesDeleted: number;
  messagesDelivered: number;
  /** Sessions where popup answered "-ERR ... child crashed" in the middle of TRANSACTION. */
  childCrashReplies: number;
  /** Rounds with at least one violation (each is listed in `violations`, then the round's details). */
  violatingRounds: number;
  violations: string[];
}

export function emptyStats(): KillStats {
  return { rounds: 0, kills: 0, killedRoot: 0, killedSession: 0, killedHelper: 0, quitsAnswered: 0, quitsLost: 0, quitsCutMidUpdate: 0, messagesDeleted: 0, messagesDelivered: 0, childCrashReplies: 0, violatingRounds: 0, violations: [] };
}

/** Adds `more` into `total`. */
export function addStats(total: KillStats, more: KillStats): void {
  for (const key of Object.keys(total) as (keyof KillStats)[]) {
    if (key === "violations") total.violations.push(...more.violations);
    else total[key] += more[key];
  }
}

/** A small seeded generator, so a failing round can be replayed from its seed. */
export { seededRandom };

/** How many times each identity is on disk. */
function census(box: FaultBox): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { id } of idsOnDisk(box)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

export function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
  } catch {
    return [];
  }
}

/** serve --inline's password-check helpers and its mail workers (all of them, busy or not). */
export function isServeHelper(pid: number): boolean {
  const argv = argvOf(pid);
  return argv.includes("--crypt-helper") || argv.includes("--mail-worker");
}

/** Whether `pid`'s fd 0 is a socket. */
function servesConnection(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/fd/0`).startsWith("socket:");
  } catch {
    return false;
  }
}

type Kind = "root" | "session" | "helper";

/** What a process below (or at) the round's root is, seen from the outside. */
function kindOf(pid: number, rootPid: number, inline: boolean): Kind {
  if (pid === rootPid) return "root";
  if (!inline) return "session";
  // A password-check helper, or a child serve has forked and not yet exec'd (still serve's argv).
  const argv = argvOf(pid);
  if (argv.includes("--crypt-helper") || argv.includes("--inline")) return "helper";
  // The mail worker serving the session, or a pop3d started for it (no worker was free), has the
  // connection on fd 0; a worker waiting or kept has /dev/null.
  return servesConnection(pid) ? "session" : "helper";
}

/** How often each kind is chosen when it has a live process (the session's processes are the point). */
const KIND_WEIGHT: Record<Kind, number> = { root: 2, session: 3, helper: 1 };

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
   * popup and serve run with the harness's rights (root in CI: the session then switches to
   * the user, in a mail worker under serve --inline).
   */
  mode?: KillMode;
  /**
   * Virtual users sharing one mail uid, as they are usually served: serve drops to the user's
   * uid and gid (-u/-g) and serves the sessions in its own process; the chain runs under that
   * uid (setpriv, as tcpserver -u would start it).
   */
  asMailUid?: boolean;
  onRound?: (round: number, stats: KillStats) => void;
}

export async function runKillRounds(box: FaultBox, rounds: number, seed: number, opts: KillOptions = {}): Promise<KillStats> {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const stats = emptyStats();
  const present = new Set<string>(idsOnDisk(box).map((e) => e.id));
  let nextId = 0;
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  // A system user is looked up in /etc/passwd and /etc/shadow: no user database.
  if (box.userdb !== undefined) env.POPPIN_USERDB = box.userdb;
  if ((opts.mode ?? "classic") === "classic") env.POPPIN_ONE_PROCESS = "0";
  const asMailUid = opts.asMailUid === true;
  const setpriv = asMailUid ? ["setpriv", `--reuid=${box.uid}`, `--regid=${box.gid}`, "--clear-groups"] : [];
  const chain = [...setpriv, applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"];
  const inline = opts.mode === "inline";
  let server: InlineServer | undefined;
  /** What the round before killed (its effects may reach this round: a helper, a server). */
  let killedBefore = "nothing";

  for (let round = 0; round < rounds; round++) {
    const where = `round ${round} (seed ${seed}, ${opts.mode ?? "classic"}, ${box.kind} user${asMailUid ? " under its uid" : ""})`;
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
        if (server === undefined || !alive(server.pid)) server = await startInline(box, env, asMailUid);
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
    const rootPid = inline ? server!.pid : (client as PipeClient).proc.pid;
    // The script: log in, list, then RETR/DELE/RSET/NOOP at random, then QUIT (or just stop).
    const script: string[] = [`USER ${box.login}`, `PASS ${box.password}`, "UIDL"];
    const steps = 1 + Math.floor(random() * 8);
    for (let i = 0; i < steps; i++) script.push(pick(["RETR", "DELE", "DELE", "RSET", "NOOP", "LIST", "TOP"]));
    if (random() < 0.85) script.push("QUIT");
    // One kill in 90% of rounds, a second one later in the same round in 20% of those (the
    // server and then the worker still serving the session, say).
    // A quarter of the kills aim at QUIT, whose update (the deletions) is where mail could be lost.
    const aimAtQuit = script.at(-1) === "QUIT" && random() < 0.25;
    const killAt = random() < 0.9 ? (aimAtQuit ? script.length - 1 : Math.floor(random() * (script.length + 1))) : -1;
    // A QUIT's update takes a millisecond or two: aim within it.
    const killDelayMs = random() * (aimAtQuit ? 1.5 : 4);
    const secondKillAt = killAt >= 0 && random() < 0.2 ? killAt + Math.floor(random() * (script.length + 1 - killAt)) : -1;
    const secondDelayMs = 1 + random() * 4;
    let killed = false;
    const killedWhat: string[] = [];
    // Every process of the chain seen, so none outlives its round (a killed popup's child is reparented).
    const seen = new Set<number>([rootPid]);
    const killedPids = new Set<number>();
    const kill = () => {
      for (const p of descendants(rootPid)) seen.add(p);
      const byKind = new Map<Kind, number[]>();
      for (const p of seen) {
        if (killedPids.has(p) || !alive(p)) continue;
        const kind = kindOf(p, rootPid, inline);
        byKind.set(kind, [...(byKind.get(kind) ?? []), p]);
      }
      const kinds = [...byKind.keys()];
      if (process.env.FAULT_DEBUG) console.error(`  kill: ${[...byKind].map(([k, ps]) => `${k} ${ps.join(",")}`).join("; ") || "no process alive"}`);
      if (kinds.length === 0) return;
      let r = random() * kinds.reduce((sum, k) => sum + KIND_WEIGHT[k], 0);
      let kind = kinds[0]!;
      for (const k of kinds) if ((r -= KIND_WEIGHT[k]) < 0) { kind = k; break; }
      const victim = pick(byKind.get(kind)!);
      const what = `${kind} ${victim} (${argvOf(victim).slice(1, 3).join(" ") || "gone"})`;
      try {
        process.kill(victim, "SIGKILL");
        killedPids.add(victim);
        killed = true;
        killedWhat.push(what);
        stats.kills++;
        if (kind === "root") stats.killedRoot++;
        else if (kind === "session") stats.killedSession++;
        else stats.killedHelper++;
      } catch {
        // it ended by itself first
      }
    };
    // A kill timed for the last command may fire after its answer: still in this round.
    const pendingKills: Promise<void>[] = [];
    const killLater = (ms: number) => pendingKills.push(Bun.sleep(ms).then(kill));
    const uidlToId = new Map<string, string>();
    const numberToId = new Map<number, string>();
    const marked = new Set<string>();
    let quitSent = false;
    let quitAnswered = false;
    // The greeting first: a command sent before it would take the greeting as its answer, and every
    // answer after it would be the one of the command before (a QUIT "answered" by a NOOP's +OK).
    const greeting = await client.waitFrom(0, /^\+OK[^\n]*\n/, 10_000);
    if (greeting === null) stats.violations.push(`${where}: no greeting: ${JSON.stringify(client.text.slice(-200))}`);
    for (let i = 0; greeting !== null && i < script.length; i++) {
      if (i === killAt) killLater(killDelayMs);
      if (i === secondKillAt) killLater(killDelayMs + secondDelayMs);
      let line = script[i]!;
      const n = numberToId.size > 0 ? 1 + Math.floor(random() * numberToId.size) : 1;
      if (line === "RETR" || line === "DELE" || line === "LIST") line = `${line} ${n}`;
      if (line === "TOP") line = `TOP ${n} 1`;
      const from = client.text.length;
      if (client.ended || !client.send(line)) {
        if (!killed) stats.violations.push(`${where}: the connection ended before ${line.split(" ")[0]} without a kill`);
        break;
      }
      if (line === "QUIT") quitSent = true;
      const multi = line === "UIDL" || line.startsWith("RETR") || line.startsWith("TOP");
      const answer = await client.waitFrom(from, multi ? /^(-ERR[^\n]*\n|\+OK[^]*?\r\n\.\r\n)/ : /^[+-][^\n]*\n/, 10_000);
      if (answer === null) {
        if (!killed) stats.violations.push(`${where}: ${line.split(" ")[0]} not answered without a kill: ${JSON.stringify(client.text.slice(-200))}`);
        break;
      }
      const reply = answer[0];
      // The service goes on: the round's login works unless a kill came before its answer
      // (whatever the rounds before killed: a new server, worker or helper takes over).
      if (i === 1 && !killed && !reply.startsWith("+OK")) stats.violations.push(`${where}: login refused without a kill in this round: ${JSON.stringify(reply)}`);
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
    await Promise.all(pendingKills);
    client.closeInput();
    for (const p of descendants(rootPid)) seen.add(p);
    if (client instanceof PipeClient) await Promise.race([client.proc.exited, Bun.sleep(5_000)]);
    else {
      // The session is over when its connection is closed from the far end (the worker or
      // the server closes it once it has read the end of input).
      if (!(await client.waitClosed(5_000)) && !killed) stats.violations.push(`${where}: the connection still open 5 s after the client's end`);
      // The session's own processes end with the connection; a live server stays for the next round,
      // and so do its helpers and mail workers (one may have been killed: the pool starts another,
      // and a worker kept for the user takes the user's next session).
      seen.delete(rootPid);
      // A server killed a moment ago may not have died yet (and its port would still take the
      // next round's connection into its backlog): wait for its end.
      if (killedPids.has(rootPid) || !alive(rootPid)) {
        await Promise.race([server!.proc.exited, Bun.sleep(5_000)]);
        server = undefined;
      } else {
        for (const p of [...seen]) if (isServeHelper(p)) seen.delete(p);
      }
    }
    await reap([...seen], 5_000);
    if (!killed && !quitAnswered && quitSent) stats.violations.push(`${where}: QUIT not answered without a kill: ${JSON.stringify(client.text.slice(-200))}`);
    if (quitSent && !quitAnswered && killed) stats.quitsLost++;

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
    if (quitSent && !quitAnswered && killed) {
      const gone = [...marked].filter((id) => !after.has(id)).length;
      if (gone > 0 && gone < marked.size) stats.quitsCutMidUpdate++;
    }
    for (const id of [...present]) {
      if ((after.get(id) ?? 0) === 0) {
        present.delete(id);
        stats.messagesDeleted++;
      }
    }
    if (stats.violations.length > violationsBefore) {
      stats.violatingRounds++;
      stats.violations.push(`${where}: script ${JSON.stringify(script.map((l) => l.replace(/^PASS .*/, "PASS ...")))}, kill before command ${killAt} (+${killDelayMs.toFixed(1)} ms)${secondKillAt >= 0 ? ` and before ${secondKillAt}` : ""}, killed: ${killedWhat.join(", ") || "nothing"} (the round before: ${killedBefore}), transcript ${JSON.stringify(client.text.slice(-600))}, stderr ${JSON.stringify(client instanceof PipeClient ? (await client.stderr).slice(-400) : "(serve --inline: not kept)")}`);
    }
    if (process.env.FAULT_DEBUG) console.error(`${where}: ${Date.now() - roundStart} ms, kill at ${killAt}/${script.length} killed ${killedWhat.join(", ") || "nothing"}, ${JSON.stringify(client.text.slice(-80))}`);
    if (quitAnswered) stats.quitsAnswered++;
    killedBefore = killedWhat.join(", ") || "nothing";
    stats.rounds++;
    opts.onRound?.(round, stats);
  }
  if (server) {
    // Its workers and helpers end with their control sockets; none outlives the run.
    const left = descendants(server.pid);
    server.proc.kill("SIGKILL");
    await Promise.race([server.proc.exited, Bun.sleep(5_000)]);
    await reap(left, 5_000);
  }
  return stats;
}

/**
 * serve --inline as root: system users' sessions run in mail workers (mail_worker.ts)
 * started ahead of need, so no login waits for a runtime to start. The pool keeps `size`
 * idle root workers, each blocked reading its control socket (a SOCK_SEQPACKET pair, its
 * end as the worker's fds 2 and 3); a session takes one, and a replacement is started after
 * the hand-over, off the login path. A worker that served a session is its user's for
 * good: it may be handed that same account's next session (no process start at all then),
 * and is let go after KEEP_MS unused; at most 2 x `size` such workers are kept. Workers that die while idle are replaced (after a pause when they die young, so
 * a broken binary is not restarted in a loop); one that is still root HANDOVER_TIMEOUT_MS
 * after a hand-over (stopped, hung) is killed. A worker says when it holds a session's
 * connection (TOOK_RECORD); one that ends before (it was dying when it was handed the session)
 * reports the session as not taken, and the caller, which kept its copy, hands it on. A session
 * that finds no worker is served the old way (a process started for it, counted as a fallback). Busy workers are sessions: -c
 * bounds them.
 *
 * Everything a worker sends is untrusted (after its switch the user owns it): lines are
 * logged as a user process's (escaped, under pop3d's prefix, bounded per session), and its
 * end record only ends its own session.
 */
import { ENV, envValue } from "../base/env.ts";
import { readFileSync } from "node:fs";
import type net from "node:net";
import { nodeNet } from "../sys/builtins.ts";
import { availableParallelism } from "node:os";
import type { Account } from "../auth/account.ts";
import { describeSysError } from "../base/errors.ts";
import { sendWithDescriptor, socketPair, closeDescriptor, SOCK_SEQPACKET } from "../sys/fd_passing.ts";
import { END_RECORD, MAIL_WORKER_FLAG, TOOK_RECORD, encodeJob, type MailWorkerJob } from "./mail_worker.ts";
import { MAX_USER_LOG_LINE, MAX_USER_LOG_LINES, userLogLine } from "./user_log.ts";

/** A session handed to a worker: `taken` is false when the worker ended before it took the connection (serve's copy then serves on). */
export interface WorkerStart {
  kind: "started";
  pid: number;
  exited: Promise<End>;
  taken: Promise<boolean>;
}

/** Most idle workers a pool keeps, whatever POPPIN_MAIL_WORKERS says. */
export const MAIL_WORKERS_MAX = 64;
/** A worker that dies idle sooner than this after its start is replaced only after it (ms). */
const YOUNG_DEATH_MS = 1000;
/** A worker still root this long after a hand-over is killed (ms). */
export const HANDOVER_TIMEOUT_MS = 5000;
/** How long a user's worker waits for that user's next session before it is let go (ms). */
export const KEEP_MS = 60_000;

type End = { exitCode: number | null; signalCode: string | null };

/** The real uid of process `pid` (/proc/PID/status); undefined when it is gone. */
function realUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** POPPIN_MAIL_WORKERS: idle workers to keep (0: none, every session gets a process of its own). */
export function mailWorkerCount(env: NodeJS.ProcessEnv): number {
  const count = envValue(env, ENV.mailWorkers);
  if (count !== undefined) return Math.min(count, MAIL_WORKERS_MAX);
  return Math.min(Math.max(4, 2 * availableParallelism()), MAIL_WORKERS_MAX);
}

function accountKey(a: Pick<Account, "login" | "uid" | "gid" | "home" | "source">): string {
  return JSON.stringify([a.login, a.uid, a.gid, a.home, a.source]);
}

class Worker {
  /** The account it switched to (undefined: still root, never handed a session). */
  key: string | undefined;
  /** The session it serves now (`taken`: whether the worker said it holds the connection). */
  session: { done(end: End): void; taken(yes: boolean): void; lines: number } | undefined;
  keepTimer: ReturnType<typeof setTimeout> | undefined;
  readonly startedAt = Date.now();
  #pending = new Uint8Array(0);
  #ownLines = 0;

  constructor(
    readonly proc: ReturnType<typeof Bun.spawn>,
    readonly control: number,
    readonly channel: net.Socket,
    readonly exited: Promise<End>,
    private readonly prefix: string,
    private readonly log: (line: string) => void,
    private readonly onEnd: (w: Worker, code: number) => void,
  ) {
    channel.on("data", (chunk: Buffer) => this.#take(chunk));
    channel.on("error", () => {});
    this.drained = new Promise<void>((resolve) => {
      channel.on("end", resolve);
      channel.on("close", resolve);
    });
  }

  /** Resolves once the worker's side of the control socket is closed and all it sent was read. */
  readonly drained: Promise<void>;

  #line(bytes: Uint8Array): void {
    const text = Buffer.from(bytes).toString("latin1");
    if (TOOK_RECORD.test(text)) {
      this.session?.taken(true);
      return;
    }
    const end = END_RECORD.exec(text);
    if (end !== null) {
      this.onEnd(this, Number(end[1]));
      return;
    }
    // Counted per session (and, for what comes between sessions, on the worker's own count).
    const count = this.session === undefined ? this.#ownLines++ : this.session.lines++;
    if (count < MAX_USER_LOG_LINES) this.log(userLogLine(this.prefix, bytes));
    else if (count === MAX_USER_LOG_LINES) this.log(`${this.prefix}: warning: more than ${MAX_USER_LOG_LINES} log lines from one session, the rest dropped\n`);
  }

  #take(chunk: Buffer): void {
    let bytes: Uint8Array = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (let lf = bytes.indexOf(0x0a); lf >= 0; lf = bytes.indexOf(0x0a)) {
      this.#line(bytes.subarray(0, lf));
      bytes = bytes.subarray(lf + 1);
    }
    if (bytes.length > MAX_USER_LOG_LINE) {
      this.#line(bytes);
      bytes = new Uint8Array(0);
    }
    this.#pending = new Uint8Array(bytes);
  }

  /** Closes serve's end of the control socket: an idle worker then exits. */
  close(): void {
    clearTimeout(this.keepTimer);
    this.channel.destroy();
  }
}

export interface MailWorkerFigures {
  idle: number;
  kept: number;
  busy: number;
  started: number;
  handed: number;
  reused: number;
  fallbacks: number;
  diedIdle: number;
}

export class MailWorkerPool {
  readonly #idle: Worker[] = [];
  /** Workers that served a session, by account, waiting for that account's next ones (most recent last). */
  readonly #kept = new Map<string, Worker[]>();
  #keptCount = 0;
  readonly #busy = new Set<Worker>();
  #closed = false;
  #refillTimer: ReturnType<typeof setTimeout> | undefined;
  #started = 0;
  #handed = 0;
  #reused = 0;
  #diedIdle = 0;
  /** Sessions that found no worker and were served by a process started for them. */
  fallbacks = 0;

  constructor(
    private readonly execPath: string,
    readonly size: number,
    /** pop3d's prefix: the workers' log lines are forwarded under it. */
    private readonly pop3dPrefix: string,
    private readonly log: (line: string) => void,
  ) {}

  get figures(): MailWorkerFigures {
    return {
      idle: this.#idle.length, kept: this.#keptCount, busy: this.#busy.size, started: this.#started, handed: this.#handed,
      reused: this.#reused, fallbacks: this.fallbacks, diedIdle: this.#diedIdle,
    };
  }

  /** Starts workers until `size` are idle. */
  fill(): void {
    while (!this.#closed && this.#idle.length < this.size) {
      const worker = this.#spawn();
      if (worker === undefined) {
        this.#refillLater(YOUNG_DEATH_MS);
        return;
      }
      this.#idle.push(worker);
    }
  }

  #refillLater(ms: number): void {
    if (this.#closed || this.#refillTimer !== undefined) return;
    this.#refillTimer = setTimeout(() => {
      this.#refillTimer = undefined;
      this.fill();
    }, ms);
    this.#refillTimer.unref?.();
  }

  #spawn(): Worker | undefined {
    let pair: [number, number];
    try {
      pair = socketPair(SOCK_SEQPACKET);
    } catch (e) {
      this.log(`${this.pop3dPrefix}: warning: unable to start a mail worker: ${describeSysError(e)}\n`);
      return undefined;
    }
    const [control, theirs] = pair;
    let resolveExit!: (v: End) => void;
    const exited = new Promise<End>((r) => (resolveExit = r));
    let proc: ReturnType<typeof Bun.spawn>;
    try {
      // Nothing of serve's but the control socket (as fd 3, and as fd 2 for log lines): stdin and
      // stdout are /dev/null until a session's connection is put there, the environment is PATH
      // alone (the session's comes with it), the cwd is /.
      proc = Bun.spawn([this.execPath, "serve", MAIL_WORKER_FLAG], {
        argv0: "poppin",
        stdio: ["ignore", "ignore", theirs, theirs],
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        cwd: "/",
        onExit: (_p, exitCode, signalCode) => resolveExit({ exitCode, signalCode: signalCode === null ? null : String(signalCode) }),
      });
    } catch (e) {
      closeDescriptor(control);
      closeDescriptor(theirs);
      this.log(`${this.pop3dPrefix}: warning: unable to start a mail worker: ${describeSysError(e)}\n`);
      return undefined;
    }
    closeDescriptor(theirs);
    this.#started++;
    const channel = nodeNet().connect({ fd: control } as unknown as net.NetConnectOpts);
    const worker = new Worker(proc, control, channel, exited, this.pop3dPrefix, this.log, (w, code) => this.#ended(w, { exitCode: code, signalCode: null }));
    // Its last lines first (bounded: a process the user left behind may hold the socket).
    void exited.then(async (end) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([worker.drained, new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
      this.#gone(worker, end);
    });
    return worker;
  }

  /** The worker's session reported its end: the worker is kept for that account's next session. */
  #ended(worker: Worker, end: End): void {
    const session = worker.session;
    if (session === undefined) return; // an end record with no session: ignored
    worker.session = undefined;
    this.#busy.delete(worker);
    session.taken(true);
    session.done(end);
    if (this.#closed || this.#keptCount >= this.keptMax) {
      worker.close();
      return;
    }
    this.#keep(worker);
    worker.keepTimer = setTimeout(() => {
      this.#unkeep(worker);
      worker.close();
    }, KEEP_MS);
    worker.keepTimer.unref?.();
  }

  /** A worker's process ended: its session (if any) ends with its status; an idle one is replaced. */
  #gone(worker: Worker, end: End): void {
    worker.close();
    if (worker.session !== undefined) {
      const session = worker.session;
      worker.session = undefined;
      this.#busy.delete(worker);
      session.taken(false); // (no change when it had taken it)
      session.done(end);
      return;
    }
    if (worker.key !== undefined) {
      this.#unkeep(worker);
      return;
    }
    const at = this.#idle.indexOf(worker);
    if (at < 0) return;
    this.#idle.splice(at, 1);
    this.#diedIdle++;
    if (Date.now() - worker.startedAt < YOUNG_DEATH_MS) this.#refillLater(YOUNG_DEATH_MS);
    else this.fill();
  }

  /** Whether a session of `account` would find a worker now (its own, or one waiting as root). */
  canTake(account: Pick<Account, "login" | "uid" | "gid" | "home" | "source">): boolean {
    return !this.#closed && (this.#idle.length > 0 || this.#kept.has(accountKey(account)));
  }

  /** Most workers kept for their users' next sessions (each a runtime of its own). */
  get keptMax(): number {
    return 2 * this.size;
  }

  #keep(worker: Worker): void {
    const list = this.#kept.get(worker.key!) ?? [];
    list.push(worker);
    this.#kept.set(worker.key!, list);
    this.#keptCount++;
  }

  #unkeep(worker: Worker): boolean {
    const list = this.#kept.get(worker.key!);
    const at = list?.indexOf(worker) ?? -1;
    if (list === undefined || at < 0) return false;
    list.splice(at, 1);
    if (list.length === 0) this.#kept.delete(worker.key!);
    this.#keptCount--;
    return true;
  }

  /**
   * Hands the session on connection `fd` to the account's own worker or an idle one;
   * undefined when none could take it (the caller then starts a process for it). The
   * caller keeps its own copy of `fd`.
   */
  start(fd: number, job: MailWorkerJob): WorkerStart | undefined {
    if (this.#closed) return undefined;
    const message = encodeJob(job);
    if (typeof message === "string") {
      this.log(`${this.pop3dPrefix}: warning: ${message}: served by a process of its own\n`);
      return undefined;
    }
    const key = accountKey(job.account);
    const kept = this.#kept.get(key)?.at(-1);
    if (kept !== undefined) {
      this.#unkeep(kept);
      clearTimeout(kept.keepTimer);
      const started = this.#hand(kept, message, fd);
      if (started !== undefined) {
        this.#reused++;
        return started;
      }
    }
    for (;;) {
      const worker = this.#idle.shift();
      if (worker === undefined) return undefined;
      worker.key = key;
      const started = this.#hand(worker, message, fd);
      if (started === undefined) continue;
      // The replacement starts once this turn of the event loop is done: off the login path.
      setImmediate(() => this.fill());
      const watch = setTimeout(() => {
        if (worker.session === undefined || realUid(worker.proc.pid) !== 0) return;
        this.log(`${this.pop3dPrefix}: warning: mail worker ${worker.proc.pid} did not take its session within ${HANDOVER_TIMEOUT_MS / 1000} s: killed\n`);
        worker.proc.kill("SIGKILL");
      }, HANDOVER_TIMEOUT_MS);
      watch.unref?.();
      return started;
    }
  }

  #hand(worker: Worker, message: Uint8Array, fd: number): WorkerStart | undefined {
    try {
      sendWithDescriptor(worker.control, message, fd);
    } catch {
      // It died (EPIPE, ECONNREFUSED) before its exit was seen.
      worker.close();
      worker.proc.kill("SIGKILL");
      if (worker.key === undefined) this.#diedIdle++;
      return undefined;
    }
    this.#handed++;
    this.#busy.add(worker);
    let taken!: (yes: boolean) => void;
    const took = new Promise<boolean>((resolve) => (taken = resolve));
    const exited = new Promise<End>((done) => (worker.session = { done, taken, lines: 0 }));
    return { kind: "started", pid: worker.proc.pid, exited, taken: took };
  }

  /** Stops the waiting workers (they exit on their control socket's close) and starts no more. */
  close(): void {
    this.#closed = true;
    if (this.#refillTimer !== undefined) clearTimeout(this.#refillTimer);
    for (const worker of [...this.#idle.splice(0), ...[...this.#kept.values()].flat()]) worker.close();
    this.#kept.clear();
    this.#keptCount = 0;
  }
}

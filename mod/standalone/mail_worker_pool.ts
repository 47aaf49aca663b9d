/**
 * serve --inline as root: system users' sessions run in mail workers (mail_worker.ts)
 * started ahead of need, so no login waits for a runtime to start. The pool keeps `size`
 * idle workers, each blocked reading its control socket (a SOCK_SEQPACKET pair, its end
 * as the worker's fd 3); a session takes one, and a replacement is started after the
 * hand-over, off the login path. Workers that die while idle are replaced (after a pause
 * when they die young, so a broken binary is not restarted in a loop); the pool never holds
 * more than `size` idle workers, and a session that finds none is served the old way (a
 * process started for it, counted as a fallback). Busy workers are sessions: -c bounds them.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { closeDescriptor, sendWithDescriptor, socketPair, SOCK_SEQPACKET } from "../sys/fd_passing.ts";
import { describeSysError } from "../cli/errors.ts";
import { MAIL_WORKER_FLAG, encodeJob, type MailWorkerJob } from "./mail_worker.ts";
import { forwardUserLog } from "./user_log.ts";
import type { UserProcessStart } from "./user_process.ts";

/** Most idle workers a pool keeps, whatever POPPIN_MAIL_WORKERS says. */
export const MAIL_WORKERS_MAX = 64;
/** A worker that dies idle sooner than this after its start is replaced only after it (ms). */
const YOUNG_DEATH_MS = 1000;

/**
 * A worker handed a session must have switched to its user within this (ms); one that is
 * still root then (stopped, hung) is killed, which ends that session only.
 */
export const HANDOVER_TIMEOUT_MS = 5000;

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
  const text = env.POPPIN_MAIL_WORKERS;
  if (text !== undefined && /^[0-9]{1,4}$/.test(text)) return Math.min(Number(text), MAIL_WORKERS_MAX);
  return Math.min(Math.max(4, 2 * availableParallelism()), MAIL_WORKERS_MAX);
}

interface Worker {
  proc: ReturnType<typeof Bun.spawn>;
  control: number;
  startedAt: number;
  exited: Promise<{ exitCode: number | null; signalCode: string | null }>;
  logged: { stop(): Promise<void> };
}

export interface MailWorkerFigures {
  idle: number;
  busy: number;
  started: number;
  handed: number;
  fallbacks: number;
  diedIdle: number;
}

export class MailWorkerPool {
  readonly #idle: Worker[] = [];
  readonly #busy = new Set<Worker>();
  #closed = false;
  #refillTimer: ReturnType<typeof setTimeout> | undefined;
  #started = 0;
  #handed = 0;
  #diedIdle = 0;
  /** Sessions that found no idle worker and were served by a process started for them. */
  fallbacks = 0;

  constructor(
    private readonly execPath: string,
    readonly size: number,
    /** pop3d's prefix: the workers' log lines are forwarded under it. */
    private readonly pop3dPrefix: string,
    private readonly log: (line: string) => void,
  ) {}

  get figures(): MailWorkerFigures {
    return { idle: this.#idle.length, busy: this.#busy.size, started: this.#started, handed: this.#handed, fallbacks: this.fallbacks, diedIdle: this.#diedIdle };
  }

  /** Pids of the idle workers (for the status and the tests' process accounting). */
  get idlePids(): number[] {
    return this.#idle.map((w) => w.proc.pid);
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
    let resolveExit!: (v: { exitCode: number | null; signalCode: string | null }) => void;
    const exited = new Promise<{ exitCode: number | null; signalCode: string | null }>((r) => (resolveExit = r));
    let proc: ReturnType<typeof Bun.spawn>;
    try {
      // Nothing of serve's but the control socket: stdin/stdout are /dev/null until a session's
      // connection is put there, stderr is a pipe to serve (never the service log), the
      // environment is PATH alone (the session's comes with it), the cwd is /.
      proc = Bun.spawn([this.execPath, "serve", MAIL_WORKER_FLAG], {
        argv0: "poppin",
        stdio: ["ignore", "ignore", "pipe", theirs],
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
    const worker: Worker = {
      proc, control, startedAt: Date.now(), exited,
      logged: forwardUserLog(proc.stderr as ReadableStream<Uint8Array>, this.pop3dPrefix, this.log),
    };
    void exited.then(() => this.#gone(worker));
    return worker;
  }

  /** A worker ended: if it was idle it died without a session; replace it. */
  #gone(worker: Worker): void {
    const at = this.#idle.indexOf(worker);
    if (at < 0) return;
    this.#idle.splice(at, 1);
    closeDescriptor(worker.control);
    this.#diedIdle++;
    if (Date.now() - worker.startedAt < YOUNG_DEATH_MS) this.#refillLater(YOUNG_DEATH_MS);
    else this.fill();
  }

  /**
   * Hands the session on connection `fd` to an idle worker; undefined when none could take
   * it (the caller then starts a process for it). The caller keeps its own copy of `fd`.
   */
  start(fd: number, job: MailWorkerJob): UserProcessStart | undefined {
    if (this.#closed) return undefined;
    const message = encodeJob(job);
    if (typeof message === "string") {
      this.log(`${this.pop3dPrefix}: warning: ${message}: served by a process of its own\n`);
      return undefined;
    }
    for (;;) {
      const worker = this.#idle.shift();
      if (worker === undefined) return undefined;
      try {
        sendWithDescriptor(worker.control, message, fd);
      } catch {
        // It died (EPIPE, ECONNREFUSED) before its exit was seen: try the next one.
        closeDescriptor(worker.control);
        worker.proc.kill("SIGKILL");
        this.#diedIdle++;
        continue;
      }
      closeDescriptor(worker.control);
      this.#handed++;
      this.#busy.add(worker);
      // The replacement starts once this turn of the event loop is done: off the login path.
      setImmediate(() => this.fill());
      const watch = setTimeout(() => {
        if (!this.#busy.has(worker) || realUid(worker.proc.pid) !== 0) return;
        this.log(`${this.pop3dPrefix}: warning: mail worker ${worker.proc.pid} did not take its session within ${HANDOVER_TIMEOUT_MS / 1000} s: killed\n`);
        worker.proc.kill("SIGKILL");
      }, HANDOVER_TIMEOUT_MS);
      watch.unref?.();
      return {
        kind: "started",
        pid: worker.proc.pid,
        exited: worker.exited.then(async (end) => {
          clearTimeout(watch);
          this.#busy.delete(worker);
          await worker.logged.stop();
          return end;
        }),
      };
    }
  }

  /** Stops the idle workers (they exit on their control socket's close) and starts no more. */
  close(): void {
    this.#closed = true;
    if (this.#refillTimer !== undefined) clearTimeout(this.#refillTimer);
    for (const worker of this.#idle.splice(0)) {
      closeDescriptor(worker.control);
      worker.proc.kill("SIGTERM");
    }
  }
}

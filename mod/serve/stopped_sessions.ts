/**
 * Session processes kept stopped. A session's process becomes the mailbox owner's (pop3d after
 * checkpassword's uid switch, `--inline`'s mail worker or user process), so that user may send
 * it SIGSTOP: it then never reads, never times out (its watchdog's SIGALRM waits, pending, for a
 * SIGCONT) and holds its connection and its `-c` slot for good; a few such sessions take the
 * whole service. tcpserver has the same hole. serve looks at the processes below it now and
 * then, and kills (SIGKILL: the one signal a stopped process takes) one it has seen stopped for
 * longer than a session may go without an exchange (POPPIN_TIMEOUT plus the watchdog's 10 s):
 * its session ends and the slot is free, as the watchdog would have done had it been able to
 * run. A process stopped for a debugger (tracing stop) is left alone.
 */
import { readdirSync, readFileSync } from "node:fs";
import { timeoutMs } from "../pop3/config.ts";
import { WATCHDOG_GRACE_SECONDS } from "../sys/watchdog.ts";
import { libcFunctions } from "../sys/ffi.ts";

// pidfd_open(2) and pidfd_send_signal(2) by number (the same on every Linux architecture, and
// no glibc version needed): a signal sent through a pidfd reaches that process or none.
const SYS_PIDFD_SEND_SIGNAL = 424;
const SYS_PIDFD_OPEN = 434;
const SIGKILL = 9;
const libc = libcFunctions({
  syscall: { args: ["i64", "i64", "i64", "i64", "i64"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
}).symbols;

/**
 * SIGKILL for `pid` only while it is the process seen stopped (the same start time, still
 * stopped). serve runs as root: a pid the user's process freed and another process took
 * meanwhile must never be hit. The pidfd names the process, not the number; the check after
 * opening it rules out a number reused before. False when it was not sent (gone, changed, or
 * a kernel without pidfds, older than 5.3: then nothing is killed).
 */
export function killIfStillStopped(pid: number, start: string): boolean {
  const fd = Number(libc().syscall(SYS_PIDFD_OPEN, pid, 0, 0, 0));
  if (fd < 0) return false;
  try {
    const now = processState(pid);
    if (now === undefined || now.state !== "T" || now.start !== start) return false;
    return Number(libc().syscall(SYS_PIDFD_SEND_SIGNAL, fd, SIGKILL, 0, 0)) === 0;
  } finally {
    libc().close(fd);
  }
}

export interface StoppedSweepOptions {
  /** How long a process may stay stopped before it is killed. */
  limitMs: number;
  /** How often to look (the kill comes between limitMs and limitMs + intervalMs after the stop). */
  intervalMs: number;
  /** One warning line's text (after "warning: "). */
  warn(message: string): void;
  /** The process whose descendants are watched (serve itself). */
  root?: number;
}

interface ProcessState {
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, names one process (pids are reused). */
  start: string;
}

/** /proc/PID/stat's state, parent and start time; undefined when the process is gone. */
export function processState(pid: number): ProcessState | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." where comm may hold spaces and parentheses: fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", ppid: Number(fields[1]), start: fields[19] ?? "" };
}

/** The real uid of a process, for the log line. */
function uidOf(pid: number): string {
  try {
    return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Direct children of `pid` from /proc/PID/task/TID/children; undefined where the kernel has no such file. */
function childrenOf(pid: number): number[] | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const tid of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, "latin1");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && tid === String(pid)) return undefined;
      continue;
    }
    for (const word of text.split(" ")) if (word !== "") found.push(Number(word));
  }
  return found;
}

/**
 * Every process below `root`, found through the children files, or (where the kernel has
 * none, or with `viaParents`) by reading each process's parent.
 */
export function descendants(root: number, viaParents = false): number[] {
  const out: number[] = [];
  const direct = viaParents ? undefined : childrenOf(root);
  if (direct !== undefined) {
    const queue = [...direct];
    while (queue.length > 0) {
      const pid = queue.shift()!;
      out.push(pid);
      const below = childrenOf(pid);
      if (below !== undefined) queue.push(...below);
    }
    return out;
  }
  const parents = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = processState(Number(name));
    if (st === undefined) continue;
    const list = parents.get(st.ppid);
    if (list === undefined) parents.set(st.ppid, [Number(name)]);
    else list.push(Number(name));
  }
  const queue = [...(parents.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(parents.get(pid) ?? []));
  }
  return out;
}

/** Starts looking; the returned function stops it. */
export function sweepStoppedSessions(options: StoppedSweepOptions): () => void {
  const root = options.root ?? process.pid;
  /** "pid/start" -> when it was first seen stopped. */
  const stoppedSince = new Map<string, number>();
  const sweep = () => {
    const now = Date.now();
    const seen = new Set<string>();
    for (const pid of descendants(root)) {
      const st = processState(pid);
      // 'T': stopped by a signal. 't' (a debugger's tracing stop) is not a user's doing: a
      // session process is not dumpable, so only root can trace it.
      if (st === undefined || st.state !== "T") continue;
      const key = `${pid}/${st.start}`;
      seen.add(key);
      const since = stoppedSince.get(key);
      if (since === undefined) {
        stoppedSince.set(key, now);
        continue;
      }
      if (now - since < options.limitMs) continue;
      const uid = uidOf(pid);
      // Not sent: gone or changed meanwhile, or not ours to signal (serve runs as another uid).
      if (killIfStillStopped(pid, st.start)) options.warn(`process ${pid} (uid ${uid}) stopped for over ${Math.round(options.limitMs / 1000)} s: killed`);
      stoppedSince.delete(key);
    }
    for (const key of stoppedSince.keys()) if (!seen.has(key)) stoppedSince.delete(key);
  };
  const timer = setInterval(sweep, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * How long a session process may stay stopped: as long as its watchdog lets it go without an
 * exchange (the read/write timeout plus the watchdog's grace); looked at every half of that,
 * at most every 30 s.
 */
export function stoppedSessionLimits(timeoutMs: number, graceSeconds: number): { limitMs: number; intervalMs: number } {
  const limitMs = timeoutMs + graceSeconds * 1000;
  return { limitMs, intervalMs: Math.max(1000, Math.min(30_000, Math.floor(limitMs / 2))) };
}

/**
 * Starts the watch for serve (both hosts): the limit from the sessions' timeout in `env`
 * (POPPIN_TIMEOUT) and the watchdog's grace; `warn` writes a warning line.
 */
export function watchStoppedSessions(env: Readonly<Record<string, string | undefined>>, warn: (message: string) => void): () => void {
  return sweepStoppedSessions({ ...stoppedSessionLimits(timeoutMs(env), WATCHDOG_GRACE_SECONDS), warn });
}

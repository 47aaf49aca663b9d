/**
 * The poppin side of the standalone benchmarks: `poppin serve` with the classic chain
 * or with --inline, virtual users in a user database (-u/-g the mail uid) or system
 * accounts (serve as root); and the memory
 * of a server's whole process tree (RSS and PSS from /proc/PID/smaps_rollup).
 */
import { readFileSync } from "node:fs";
import { printedPort, stopProcess } from "./fixtures.ts";

export interface PoppinServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export type PoppinMode = "classic" | "inline";

/**
 * Virtual users: `userdb` (POPPIN_USERDB) and serve's -u/-g `uid`/`gid`. System users (no
 * userdb): serve stays root, checkpassword reads /etc/shadow, each session runs as its owner.
 * The server picks a free port itself (port 0, -1 prints it), as the tests do: a port chosen
 * here could be held by one of the bench's own outgoing connections, and serve would exit.
 */
export async function startPoppin(o: {
  poppin: string; mode: PoppinMode; userdb?: string; uid?: number; gid?: number; limit: number;
  popupOptions?: string[]; env?: Record<string, string>;
}): Promise<PoppinServer> {
  const chain = [o.poppin, "popup", ...(o.popupOptions ?? []), "bench.example", o.poppin, "checkpassword", o.poppin, "pop3d", "Maildir"];
  const ids = o.uid === undefined ? [] : ["-u", String(o.uid), "-g", String(o.gid ?? o.uid)];
  const argv = [o.poppin, "serve", ...(o.mode === "inline" ? ["--inline"] : []), "-q", "-1", "-R", "-H", "-l", "bench.example",
    "-c", String(o.limit), "-b", "1024", ...ids, "127.0.0.1", "0", ...chain];
  const proc = Bun.spawn(argv, {
    env: { PATH: "/usr/bin:/bin", ...(o.userdb === undefined ? {} : { POPPIN_USERDB: o.userdb }), ...o.env },
    stdout: "pipe", stderr: process.env.BENCH_SERVER_STDERR ? "inherit" : "ignore", stdin: "ignore",
  });
  let port: number;
  try {
    port = await printedPort(proc, 15_000, `poppin serve${o.mode === "inline" ? " --inline" : ""}`);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  return {
    port,
    pid: proc.pid,
    stop: () => stopProcess(proc, 5_000),
  };
}

/** Every pid in the tree under `root` (root included). */
export function processTree(root: number): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    let children = "";
    try {
      for (const task of [String(pid)]) children += readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
    } catch {
      continue;
    }
    for (const c of children.trim().split(/\s+/)) if (c !== "") queue.push(Number(c));
  }
  return out;
}

/** Summed RSS and PSS (KiB) of the processes, from smaps_rollup. */
export function treeMemory(pids: readonly number[]): { rssKb: number; pssKb: number; processes: number } {
  let rssKb = 0;
  let pssKb = 0;
  let processes = 0;
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    } catch {
      continue;
    }
    processes++;
    rssKb += Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    pssKb += Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
  }
  return { rssKb, pssKb, processes };
}

/**
 * Who listens on a TCP port: the LISTEN sockets in /proc/net/tcp and tcp6, and the
 * processes holding them (their fds point at socket:[INODE]).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const TCP_LISTEN = "0A";

export interface Listener { address: string; port: number; inode: string }
export interface Holder { pid: number; command: string }

function hexAddress(hex: string): string {
  if (hex.length === 8) {
    const n = Number.parseInt(hex, 16);
    return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join(".");
  }
  return hex === "00000000000000000000000000000000" ? "::" : `[${hex}]`;
}

/** Parses /proc/net/tcp-style text into its listening sockets. */
export function parseProcNetTcp(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
    const [addr, port] = f[1].split(":");
    out.push({ address: hexAddress(addr), port: Number.parseInt(port, 16), inode: f[9] });
  }
  return out;
}

export function listenersOn(port: number, procRoot = "/proc"): Listener[] {
  const all: Listener[] = [];
  for (const file of ["net/tcp", "net/tcp6"]) {
    try {
      all.push(...parseProcNetTcp(readFileSync(`${procRoot}/${file}`, "latin1")));
    } catch { /* no IPv6 */ }
  }
  return all.filter((l) => l.port === port);
}

/** The processes with an fd on one of `inodes` (bounded: stops at the first few). */
export function holders(inodes: ReadonlySet<string>, procRoot = "/proc", limit = 4): Holder[] {
  const found: Holder[] = [];
  let pids: string[] = [];
  try { pids = readdirSync(procRoot).filter((p) => /^\d+$/.test(p)); } catch { return found; }
  for (const pid of pids) {
    let fds: string[];
    try { fds = readdirSync(`${procRoot}/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target: string;
      try { target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !inodes.has(m[1])) continue;
      let command = "";
      try { command = readFileSync(`${procRoot}/${pid}/cmdline`, "latin1").split("\0").filter(Boolean).join(" "); } catch { /* gone */ }
      found.push({ pid: Number(pid), command });
      break;
    }
    if (found.length >= limit) break;
  }
  return found;
}

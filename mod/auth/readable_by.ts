/**
 * Whether an account could read a file, from the modes, owners and groups on the way
 * (every directory entered, then the file): for checks made as root on behalf of the
 * account a service will run as (serve -u, doctor).
 */
import { readFileSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";

export interface RunAccount { name: string; uid: number; gid: number }

/** The groups of an account: its own and those that list it in /etc/group. */
function groupsOf(account: RunAccount): Set<number> {
  const gids = new Set([account.gid]);
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [, , gid, members] = line.split(":");
      if (members !== undefined && members.split(",").includes(account.name)) gids.add(Number(gid));
    }
  } catch { /* no /etc/group: the primary group only */ }
  return gids;
}

function allowed(st: Stats, uid: number, gids: Set<number>, bit: number): boolean {
  if (st.uid === uid) return (st.mode & (bit << 6)) !== 0;
  if (gids.has(st.gid)) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

/** Why `account` cannot read `path` (a directory on the way it cannot enter, or the file), or undefined. */
export function readProblem(path: string, account: RunAccount): string | undefined {
  const gids = groupsOf(account);
  const dirs: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const dir of dirs) {
    let st: Stats;
    try { st = statSync(dir); } catch { return `${dir} does not exist`; }
    if (!allowed(st, account.uid, gids, 1)) return `${dir} (mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid}) cannot be entered`;
  }
  let st: Stats;
  try { st = statSync(path); } catch { return `${path} does not exist`; }
  if (!allowed(st, account.uid, gids, 4)) return `${path} has mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid}`;
  return undefined;
}


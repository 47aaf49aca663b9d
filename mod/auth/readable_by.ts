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

/** What stops an account on the way to a file: a missing entry, a directory it cannot enter, or the file. */
export interface Refusal { path: string; st?: Stats; kind: "missing" | "directory" | "file" }

/**
 * Walks the way to `path` as a lookup does (every directory from / down, then the file) and
 * returns the first refusal: `canEnter` judges each directory, `canUse` the file.
 */
export function firstRefusal(path: string, canEnter: (st: Stats) => boolean, canUse: (st: Stats) => boolean): Refusal | undefined {
  const dirs: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const dir of dirs) {
    let st: Stats;
    try { st = statSync(dir); } catch { return { path: dir, kind: "missing" }; }
    if (!canEnter(st)) return { path: dir, st, kind: "directory" };
  }
  let st: Stats;
  try { st = statSync(path); } catch { return { path, kind: "missing" }; }
  return canUse(st) ? undefined : { path, st, kind: "file" };
}

/** Why `account` cannot read `path` (a directory on the way it cannot enter, or the file), or undefined. */
export function readProblem(path: string, account: RunAccount): string | undefined {
  const gids = groupsOf(account);
  const refused = firstRefusal(path, (st) => allowed(st, account.uid, gids, 1), (st) => allowed(st, account.uid, gids, 4));
  if (refused === undefined) return undefined;
  const { st } = refused;
  if (st === undefined) return `${refused.path} does not exist`;
  if (refused.kind === "directory") return `${refused.path} (mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid}) cannot be entered`;
  return `${refused.path} has mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid}`;
}

/**
 * Why `account` cannot write in directory `dir` (create, rename and remove files there, as
 * multilog does) or write each of `files` in it: a directory on the way it cannot enter, `dir`
 * itself, or a file; undefined when it can.
 */
export function writeProblem(dir: string, files: readonly string[], account: RunAccount): string | undefined {
  const gids = groupsOf(account);
  const describe = (r: Refusal): string => {
    if (r.st === undefined) return `${r.path} does not exist`;
    const what = `${r.path} (mode ${(r.st.mode & 0o7777).toString(8)}, owner ${r.st.uid}:${r.st.gid})`;
    return r.kind === "directory" ? `${what} cannot be entered` : `${what} cannot be written`;
  };
  const refused = firstRefusal(dir, (st) => allowed(st, account.uid, gids, 1), (st) => allowed(st, account.uid, gids, 2) && allowed(st, account.uid, gids, 1));
  if (refused !== undefined) return describe(refused);
  for (const file of files) {
    let st: Stats;
    try { st = statSync(file); } catch { continue; } // made by the account when needed
    if (!allowed(st, account.uid, gids, 2)) return describe({ path: file, st, kind: "file" });
  }
  return undefined;
}

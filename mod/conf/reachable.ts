/**
 * Whether every account a generated service runs programs as can run the binary it names.
 * The log account, each mail user (pop3d runs as the user) and the QMQPD account are
 * arbitrary, so the path must be open to "others": every directory searchable, the file
 * executable. A binary in a clone under /root (mode 0700) is the usual miss: the logger
 * then restarts every second and every login fails.
 */
import { statSync, type Stats } from "node:fs";
import { dirname } from "node:path";

function modeOf(st: Stats): string {
  return (st.mode & 0o7777).toString(8);
}

/** Why other accounts cannot run `path` (a directory on the way, or the file), or undefined. */
export function runProblemForOthers(path: string): string | undefined {
  const dirs: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const dir of dirs) {
    let st: Stats;
    try { st = statSync(dir); } catch { return `${dir} does not exist`; }
    if ((st.mode & 0o001) === 0) return `${dir} (mode ${modeOf(st)}) cannot be entered by other accounts`;
  }
  let st: Stats;
  try { st = statSync(path); } catch { return `${path} does not exist`; }
  if ((st.mode & 0o001) === 0) return `${path} (mode ${modeOf(st)}) cannot be run by other accounts`;
  return undefined;
}

/**
 * Whether every account a generated service runs programs as can run the binary it names.
 * The log account, each mail user (pop3d runs as the user) and the QMQPD account are
 * arbitrary, so the path must be open to "others": every directory searchable, the file
 * executable. A binary in a clone under /root (mode 0700) is the usual miss: the logger
 * then restarts every second and every login fails.
 */
import type { Stats } from "node:fs";
import { firstRefusal } from "../auth/readable_by.ts";

function modeOf(st: Stats): string {
  return (st.mode & 0o7777).toString(8);
}

/** Why other accounts cannot run `path` (a directory on the way, or the file), or undefined. */
export function runProblemForOthers(path: string): string | undefined {
  const forOthers = (st: Stats) => (st.mode & 0o001) !== 0;
  const refused = firstRefusal(path, forOthers, forOthers);
  if (refused === undefined) return undefined;
  if (refused.st === undefined) return `${refused.path} does not exist`;
  return refused.kind === "directory"
    ? `${refused.path} (mode ${modeOf(refused.st)}) cannot be entered by other accounts`
    : `${refused.path} (mode ${modeOf(refused.st)}) cannot be run by other accounts`;
}

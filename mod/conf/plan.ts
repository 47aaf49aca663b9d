/**
 * What a service directory holds, as data: the generators (daemontools.ts, systemd.ts)
 * return a plan, and write.ts makes it on disk in order, the way djb's generic-conf does
 * (mkdir, write, fsync, chown, chmod), so a plan can be tested without touching disk.
 */
export type PlanEntry =
  | { kind: "dir"; path: string; mode: number; owner?: { uid: number; gid: number } }
  | { kind: "file"; path: string; content: string; mode: number; owner?: { uid: number; gid: number } };

export interface ServicePlan {
  /** The service directory (absolute); created with mkdir, so it must not exist. */
  dir: string;
  /** Mode of the service directory: 03755 as djb's init() sets it. */
  dirMode: number;
  /** Entries relative to `dir`, made in order. */
  entries: PlanEntry[];
  /** Whether to compile tcp into tcp.cdb at the end (same as running make). */
  compileRules: boolean;
}

/** Quotes one word for /bin/sh when it needs it. */
export function shellWord(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellLine(words: readonly string[]): string {
  return words.map(shellWord).join(" ");
}

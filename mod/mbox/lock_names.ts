/**
 * What pop3d's mbox options and a session's [IN-USE] refusal need of the spool locks,
 * without the locking code (spool_lock.ts, dot_lock.ts): a Maildir session, popup's
 * usual one in the classic chain, never loads that (tests/cli/start_cost.test.ts).
 */
export type LockMethod = "dotlock" | "fcntl" | "flock";
export const DEFAULT_LOCK_METHODS: readonly LockMethod[] = ["dotlock", "fcntl"];

/** liblockfile's default: a lock untouched for 5 minutes is stale. */
export const DEFAULT_STALE_SECONDS = 300;

/** The spool is locked by someone else beyond the wait: POP3's [IN-USE]. */
export class SpoolBusy extends Error {
  readonly byPoppin: boolean;
  constructor(message: string, byPoppin: boolean) {
    super(message);
    this.name = "SpoolBusy";
    this.byPoppin = byPoppin;
  }
}

/** Parses "dotlock,fcntl,flock" (any subset, at least one). */
export function parseLockMethods(text: string): LockMethod[] | undefined {
  const parts = text.split(",").filter((p) => p !== "");
  if (parts.length === 0 || !parts.every((p) => p === "dotlock" || p === "fcntl" || p === "flock")) return undefined;
  return [...new Set(parts as LockMethod[])];
}

/**
 * Password and account expiry from shadow(5), as shadow-utils' isexpired() reads it.
 * Dates are days since 1970-01-01; -1 means the field is empty.
 */
import type { ShadowEntry } from "../sys/libc.ts";

const DAY_MS = 86_400_000;

export function daysSinceEpoch(now: Date): number {
  return Math.floor(now.getTime() / DAY_MS);
}

/** Why this shadow entry may not log in today, or undefined when it may. */
export function shadowRefusal(entry: ShadowEntry, today: number): string | undefined {
  // Account expiration date: the account is disabled from that day on.
  if (entry.expire >= 0 && today >= entry.expire) return "account expired";
  // lastchg 0: "the user should change the password at the next login"; POP3 cannot.
  if (entry.lastChange === 0) return "password must be changed";
  if (entry.lastChange > 0 && entry.max >= 0) {
    const mustChange = entry.lastChange + entry.max;
    if (entry.inactive >= 0 && today >= mustChange + entry.inactive) return "password expired and inactive";
    if (today >= mustChange) return "password expired";
  }
  return undefined;
}

/**
 * popup's checks around each login attempt, the same for the popup applet and serve
 * --inline: before the chain, the per-address failure limit and the user policy
 * (allowed users, downcase, trim-domain); after a failure, the greppable warning (never
 * the password) and the address's failure count.
 */
import type { AuthFailure } from "../pop3/authorization.ts";
import { logValue } from "../base/log_value.ts";
import { addressBlocked, recordFailure, type FailureLimitOptions } from "./failure_limit.ts";
import type { Policy } from "./resolve.ts";
import { admitUser, type Admission } from "./user_policy.ts";

export interface LoginChecks {
  admit(attempt: { user: Uint8Array }): Admission;
  /** Counts a refused login against the address; returns the warning's text (after "warning: "). */
  failed(user: Uint8Array, failure: AuthFailure, detail: string, mechanism?: string): string;
}

export function loginChecks(policy: Policy, remoteIp: string): LoginChecks {
  const limiter: FailureLimitOptions | undefined = policy.failureDir === undefined ? undefined
    : { dir: policy.failureDir, limit: policy.failureLimit, windowSeconds: policy.failureWindowSeconds };
  return {
    admit(attempt) {
      if (limiter !== undefined && addressBlocked(remoteIp, limiter)) return { refused: "too many failed logins from this address", address: true };
      try {
        return admitUser(attempt.user, policy);
      } catch (e) {
        // An unreadable auth-file or nonauth-file: [SYS/TEMP], not counted against the client (fail2ban would ban every user).
        return { refused: (e as Error).message, temporary: true };
      }
    },
    failed(user, failure, detail, mechanism) {
      if (limiter !== undefined && failure === "rejected") recordFailure(remoteIp, limiter);
      const what = failure === "rejected" ? "authorization failed" : "authorization temporary failure";
      // A plain wrong password (checkpassword's exit 1) needs no reason; anything else names it.
      const why = failure === "rejected" && / exit 1$/.test(detail) ? "" : ` why=${logValue(detail)}`;
      const mech = mechanism === undefined ? "" : ` mech=${logValue(mechanism)}`;
      return `${what} rip=${logValue(remoteIp)} user=${logValue(user)}${mech}${why}`;
    },
  };
}

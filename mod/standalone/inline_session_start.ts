/**
 * pop3d's policy steps before the scan (mod/policy/pop3d_policy.ts startSession), for
 * sessions that share one process: the [IN-USE] lock's descriptor is returned so the
 * session releases it when it ends (a pop3d process releases it by exiting). flock
 * locks belong to the open file, so two sessions in this process exclude each other
 * exactly as two processes do, and they exclude classic pop3d processes too.
 */
import { closeSync } from "node:fs";
import { deliverBulletins } from "../bulletin/bulletins.ts";
import { loginLine } from "../policy/log_format.ts";
import { checkLoginDelay } from "../policy/login_delay.ts";
import { MailboxInUse, lockMailboxSession } from "../policy/mailbox_lock.ts";
import type { Policy } from "../policy/resolve.ts";

export type InlineSessionStart =
  | { kind: "go"; notes: string[]; release(): void }
  | { kind: "refuse"; reply: string; log: string };

/** Throws TempError for trouble, as startSession. `gid` is the mailbox owner's (ours). */
export async function inlineSessionStart(dir: string, policy: Policy, env: NodeJS.ProcessEnv): Promise<InlineSessionStart> {
  let lockFd: number | undefined;
  const release = () => {
    if (lockFd !== undefined) closeSync(lockFd);
    lockFd = undefined;
  };
  try {
    if (policy.mailboxLock === "session") {
      try {
        lockFd = lockMailboxSession(dir);
      } catch (e) {
        if (e instanceof MailboxInUse) return { kind: "refuse", reply: "[IN-USE] mailbox in use by another session, try again later", log: "mailbox in use" };
        throw e;
      }
    }
    const notes: string[] = [];
    if (policy.loginDelaySeconds !== undefined && policy.loginDelaySeconds > 0) {
      const wait = checkLoginDelay(dir, policy.loginDelaySeconds);
      if (wait > 0) {
        release();
        return { kind: "refuse", reply: `[LOGIN-DELAY] wait ${wait} more seconds before logging in again`, log: `login delay wait=${wait}` };
      }
    }
    if (policy.bulletinDir !== undefined) {
      const gids = [process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])];
      const n = await deliverBulletins(policy.bulletinDir, dir, policy.maxBulletins, { user: env.USER ?? "", gids });
      if (n > 0) notes.push(`bulletins=${n}`);
    }
    if (policy.logLogin !== undefined) notes.push(loginLine(policy.logLogin, env));
    return { kind: "go", notes, release };
  } catch (e) {
    release();
    throw e;
  }
}

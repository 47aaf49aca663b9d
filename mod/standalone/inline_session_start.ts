/**
 * pop3d's policy steps before the scan (mod/policy/pop3d_policy.ts startSession: the
 * [IN-USE] lock, login delay, bulletins), for sessions that share one process: the same
 * function, with the lock's descriptor kept so the session releases it when it ends (a
 * pop3d process releases it by exiting). flock locks belong to the open file, so two
 * sessions in this process exclude each other exactly as two processes do, and they
 * exclude classic pop3d processes too.
 */
import { closeSync } from "node:fs";
import type { Policy } from "../policy/resolve.ts";
import { startSession } from "../policy/pop3d_policy.ts";

export type InlineSessionStart =
  | { kind: "go"; notes: string[]; warnings: string[]; release(): void }
  | { kind: "refuse"; reply: string; log: string };

/** Throws TempError for trouble, as startSession; nothing is held then, nor after a refusal. */
export async function inlineSessionStart(dir: string, policy: Policy, env: NodeJS.ProcessEnv): Promise<InlineSessionStart> {
  let lockFd: number | undefined;
  const release = () => {
    if (lockFd !== undefined) closeSync(lockFd);
    lockFd = undefined;
  };
  try {
    const start = await startSession(dir, policy, env, (fd) => (lockFd = fd));
    if (start.kind === "refuse") {
      release();
      return start;
    }
    return { ...start, release };
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * The seam where serve --inline starts a system user's session process: a mail worker
 * from the pool when one is idle (no runtime start on the login path), otherwise a
 * process started for the session (user_process.ts), counted as the pool's fallback.
 */
import type { Account } from "../auth/account.ts";
import type { MailWorkerPool } from "./mail_worker_pool.ts";
import { startUserProcess, type UserProcessSpec, type UserProcessStart } from "./user_process.ts";

export function startSessionProcess(fd: number, account: Account, env: NodeJS.ProcessEnv, spec: UserProcessSpec, workers: MailWorkerPool | undefined): UserProcessStart {
  if (workers !== undefined) {
    const plain: Record<string, string> = {};
    for (const [key, value] of Object.entries(env)) if (value !== undefined) plain[key] = value;
    const started = workers.start(fd, {
      account: { login: account.login, uid: account.uid, gid: account.gid, home: account.home, shell: account.shell, source: account.source },
      env: plain,
      pop3dPrefix: spec.pop3dPrefix,
      pop3dArgs: [...spec.pop3dArgs],
      execPath: spec.execPath,
    });
    if (started !== undefined) return started;
    workers.fallbacks++;
  }
  return startUserProcess(fd, account, env, spec);
}

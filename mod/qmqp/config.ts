/** qmqpd's settings, all from the environment (the run script's env/ directory). */
import { ENV, envStrict } from "../base/env.ts";
import { authConfigFromEnv } from "../auth/config.ts";
import { UsageError } from "../base/errors.ts";
import type { LocalConfig } from "./local.ts";
import type { QmqpLimits } from "./parser.ts";

/** Default message bound (qmail-smtpd's DATABYTES name; qmail-qmqpd itself stops near 200 MB). */
export const DEFAULT_DATABYTES = 50 * 1024 * 1024;
/** qmail-qmqpd's alarm(3600): the whole request must arrive within this. */
export const DEFAULT_TIMEOUT_SECONDS: number = ENV.qmqpTimeout.fallback;
export const MAX_RECIPIENTS = 10_000;

export interface QmqpdConfig {
  limits: QmqpLimits;
  timeoutMs: number;
  /** $QMAILQUEUE: a qmail-queue compatible program; unset: local Maildir delivery. */
  queue?: string;
  local: LocalConfig;
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^[0-9]{1,12}$/.test(text)) throw new UsageError(`${name} must be a number, not ${text}`);
  return Number(text);
}

export function qmqpdConfigFromEnv(env: NodeJS.ProcessEnv): QmqpdConfig {
  const auth = authConfigFromEnv(env);
  return {
    limits: { maxMessage: number(env, "DATABYTES", DEFAULT_DATABYTES) || DEFAULT_DATABYTES, maxRecipients: MAX_RECIPIENTS },
    timeoutMs: envStrict(env, ENV.qmqpTimeout) * 1000,
    queue: env.QMAILQUEUE || undefined,
    local: { userdb: auth.userdb, minUid: auth.minUid, maildirName: env.MAILDIRNAME || "Maildir" },
  };
}

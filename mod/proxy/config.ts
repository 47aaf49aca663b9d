/**
 * The proxy's settings from the environment, declared once:
 *   POPPIN_BACKEND_TIMEOUT  seconds for the whole login at the backend: connection, TLS,
 *                           greeting and answers (default 15); after the login the
 *                           session's own idle timeout (POPPIN_TIMEOUT) applies
 *   POPPIN_BACKEND_CA       PEM file of the certificates that sign the backends' (with
 *                           --backend-tls; unset: the system's trusted authorities)
 */
import { ENV, envValue } from "../base/env.ts";
import { readFileSync } from "node:fs";
import { TempError, describeSysError } from "../base/errors.ts";
import { timeoutMs } from "../pop3/config.ts";

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_BACKEND_TIMEOUT_SECONDS: number = ENV.backendTimeout.fallback;

export interface ProxyConfig {
  /** The whole login at the backend (connect to last answer), in milliseconds. */
  backendTimeoutMs: number;
  /** No byte either way for this long ends a relayed session (POPPIN_TIMEOUT, qmail's 1200 s). */
  idleTimeoutMs: number;
  /** --backend-tls: TLS to the backend after the PROXY header; `ca` undefined means the system store. */
  backendTls: { ca: Buffer | undefined } | undefined;
}

export function proxyConfig(env: Env, backendTls: boolean): ProxyConfig {
  const seconds = envValue(env, ENV.backendTimeout);
  let ca: Buffer | undefined;
  const caFile = envValue(env, ENV.backendCa);
  if (backendTls && caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new TempError(`unable to read ${caFile}: ${describeSysError(err)}`);
    }
  }
  return { backendTimeoutMs: seconds * 1000, idleTimeoutMs: timeoutMs(env), backendTls: backendTls ? { ca } : undefined };
}

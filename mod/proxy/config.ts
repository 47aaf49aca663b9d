/**
 * The proxy's settings from the environment, declared once:
 *   POPPIN_BACKEND_TIMEOUT  seconds for the backend to accept the connection and for each
 *                           of its answers during the login (default 15); after the login
 *                           the session's own idle timeout (POPPIN_TIMEOUT) applies
 *   POPPIN_BACKEND_CA       PEM file of the certificates that sign the backends' (with
 *                           --backend-tls; unset: the system's trusted authorities)
 */
import { readFileSync } from "node:fs";
import { TempError, describeSysError } from "../cli/errors.ts";
import { timeoutMs } from "../pop3/config.ts";

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_BACKEND_TIMEOUT_SECONDS = 15;

export interface ProxyConfig {
  /** Connect and each login answer, in milliseconds. */
  backendTimeoutMs: number;
  /** No byte either way for this long ends a relayed session (POPPIN_TIMEOUT, qmail's 1200 s). */
  idleTimeoutMs: number;
  /** --backend-tls: TLS to the backend after the PROXY header; `ca` undefined means the system store. */
  backendTls: { ca: Buffer | undefined } | undefined;
}

export function proxyConfig(env: Env, backendTls: boolean): ProxyConfig {
  const text = env.POPPIN_BACKEND_TIMEOUT;
  const seconds = text !== undefined && /^[0-9]{1,6}$/.test(text) && Number(text) > 0 ? Number(text) : DEFAULT_BACKEND_TIMEOUT_SECONDS;
  let ca: Buffer | undefined;
  const caFile = env.POPPIN_BACKEND_CA;
  if (backendTls && caFile !== undefined && caFile !== "") {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new TempError(`unable to read ${caFile}: ${describeSysError(err)}`);
    }
  }
  return { backendTimeoutMs: seconds * 1000, idleTimeoutMs: timeoutMs(env), backendTls: backendTls ? { ca } : undefined };
}

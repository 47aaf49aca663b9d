/**
 * Qpopper's log-login format (%0 user, %1 client host name, %2 client IP, %3 server IP;
 * %% a percent sign; poppin adds %4, how the user logged in: USER, APOP, PLAIN,
 * SCRAM-SHA-256 ...) and its one statistics line per session, both from the UCSPI
 * environment. Values pass through logValue so a hostile user name cannot forge a
 * log line; no password or hash ever reaches these.
 */
import { MECHANISM_VARIABLE } from "../sasl/login_env.ts";
import { logValue } from "../pop3/log_value.ts";

type Env = Readonly<Record<string, string | undefined>>;

export function loginLine(format: string, env: Env): string {
  const fields = [env.USER ?? "-", env.TCPREMOTEHOST ?? env.TCPREMOTEIP ?? "unknown", env.TCPREMOTEIP ?? "unknown", env.TCPLOCALIP ?? "unknown", env[MECHANISM_VARIABLE] ?? "-"];
  return format.replace(/%([0-4%])/g, (_, c: string) => (c === "%" ? "%" : logValue(fields[Number(c)]!)));
}

export interface SessionFigures {
  deleted: number;
  deletedOctets: number;
  left: number;
  leftOctets: number;
}

/** Qpopper's "Stats:" line: user, deleted messages and octets, left messages and octets, host, IP. */
export function statisticsLine(f: SessionFigures, env: Env): string {
  const host = env.TCPREMOTEHOST ?? env.TCPREMOTEIP ?? "unknown";
  return `Stats: ${logValue(env.USER ?? "-")} ${f.deleted} ${f.deletedOctets} ${f.left} ${f.leftOctets} ${logValue(host)} ${logValue(env.TCPREMOTEIP ?? "unknown")}`;
}

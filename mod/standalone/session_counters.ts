/**
 * What the standalone server counts, for the status line and --metrics: connections,
 * sessions by state, logins. One object per server, passed explicitly.
 */
export type SessionState = "authorization" | "transaction" | "user_process";

export class SessionCounters {
  connectionsTotal = 0;
  connectionsOpen = 0;
  readonly byState: Record<SessionState, number> = { authorization: 0, transaction: 0, user_process: 0 };
  loginsOk = 0;
  loginsFailed = 0;
  loginsTemporaryFailure = 0;
  denied = 0;
  dropped = 0;
  /** loginsOk at the last status line, for the logins/s figure. */
  #lastLogins = 0;
  #lastAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.#lastAt = now();
  }

  enter(state: SessionState): void {
    this.byState[state]++;
  }

  leave(state: SessionState): void {
    if (this.byState[state] > 0) this.byState[state]--;
  }

  /** Logins per second since the previous call. */
  loginRate(): number {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.#lastAt) / 1000);
    const rate = (this.loginsOk - this.#lastLogins) / seconds;
    this.#lastLogins = this.loginsOk;
    this.#lastAt = now;
    return rate;
  }
}

/** The minute's status line (after the "PREFIX: info: "). */
export function statusText(c: SessionCounters, rate: number, limit: number): string {
  return `status connections=${c.connectionsOpen}/${limit} authorization=${c.byState.authorization} transaction=${c.byState.transaction} ` +
    `user_processes=${c.byState.user_process} logins=${c.loginsOk} failed=${c.loginsFailed} logins_per_second=${rate.toFixed(2)}`;
}

/** The same figures in Prometheus text exposition format (version 0.0.4). */
export function prometheusText(c: SessionCounters, limit: number, extra: { cryptPending: number; cacheEntries: number; cacheHits: number; cacheMisses: number }): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric("poppin_connections_open", "gauge", "Connections being served.", [["", c.connectionsOpen]]);
  metric("poppin_connections_limit", "gauge", "The -c limit.", [["", limit]]);
  metric("poppin_connections_total", "counter", "Connections accepted.", [["", c.connectionsTotal]]);
  metric("poppin_connections_denied_total", "counter", "Connections denied by the rules.", [["", c.denied]]);
  metric("poppin_connections_dropped_total", "counter", "Connections dropped before a session started.", [["", c.dropped]]);
  metric("poppin_sessions", "gauge", "Sessions by POP3 state.", (Object.keys(c.byState) as (keyof typeof c.byState)[]).map((s) => [`{state="${s}"}`, c.byState[s]]));
  metric("poppin_logins_total", "counter", "Login attempts by result.", [
    ['{result="ok"}', c.loginsOk], ['{result="failed"}', c.loginsFailed], ['{result="temporary"}', c.loginsTemporaryFailure],
  ]);
  metric("poppin_crypt_pending", "gauge", "Password checks waiting for or running on the crypt workers.", [["", extra.cryptPending]]);
  metric("poppin_auth_cache_entries", "gauge", "Entries in the verified-credential cache.", [["", extra.cacheEntries]]);
  metric("poppin_auth_cache_lookups_total", "counter", "Credential cache lookups by result.", [['{result="hit"}', extra.cacheHits], ['{result="miss"}', extra.cacheMisses]]);
  return lines.join("\n") + "\n";
}

/**
 * What the classic serve counts for --metrics: connections (accepted, denied by the rules,
 * dropped before a program ran) and how the programs ended (exit code or signal), with the
 * same metric names as serve --inline's where they mean the same thing.
 */
export class ServeCounters {
  connectionsTotal = 0;
  denied = 0;
  dropped = 0;
  /** Program ends by exit code or signal name: "code=0", "signal=SIGKILL". */
  readonly exits = new Map<string, number>();

  exited(code: number | null, signal: string | null): void {
    const key = signal ? `signal=${signal}` : `code=${code ?? "unknown"}`;
    this.exits.set(key, (this.exits.get(key) ?? 0) + 1);
  }
}

/** Prometheus text (version 0.0.4). `open` and `limit`: the connections now and the -c limit. */
export function serveMetricsText(c: ServeCounters, open: number, limit: number): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric("poppin_connections_open", "gauge", "Connections being served.", [["", open]]);
  metric("poppin_connections_limit", "gauge", "The -c limit.", [["", limit]]);
  metric("poppin_connections_total", "counter", "Connections accepted.", [["", c.connectionsTotal]]);
  metric("poppin_connections_denied_total", "counter", "Connections denied by the rules.", [["", c.denied]]);
  metric("poppin_connections_dropped_total", "counter", "Connections dropped before a program ran.", [["", c.dropped]]);
  const exits = [...c.exits.entries()].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
  metric("poppin_programs_exited_total", "counter", "Programs that ended, by exit code or signal.", exits.map(([key, n]) => {
    const [label, value] = key.split("=") as [string, string];
    return [`{${label}="${value}"}`, n];
  }));
  return lines.join("\n") + "\n";
}

/**
 * --metrics HOST:PORT: the status figures in Prometheus text format over HTTP
 * (GET /metrics, and HEAD: the same status and headers without the body; any other path or
 * method is 404). Bound to the address given, nothing else.
 */
export interface MetricsEndpoint {
  port: number;
  stop(): void;
}

/** Parses HOST:PORT ("[::1]:9100" for IPv6); undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:([0-9]{1,5})$/.exec(text) ?? /^([^:\s]+):([0-9]{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

export function startMetrics(host: string, port: number, render: () => string): MetricsEndpoint {
  const server = Bun.serve({
    hostname: host,
    port,
    fetch(request) {
      const path = new URL(request.url).pathname;
      const head = request.method === "HEAD";
      if ((request.method !== "GET" && !head) || (path !== "/metrics" && path !== "/")) return new Response("not found\n", { status: 404 });
      const body = Buffer.from(render(), "utf8");
      const headers = { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": String(body.length) };
      return new Response(head ? null : body, { headers });
    },
  });
  return { port: server.port ?? port, stop: () => void server.stop(true) };
}

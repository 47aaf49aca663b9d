/**
 * serve --metrics HOST:PORT with the classic chain (a program per connection): Prometheus
 * text over HTTP, read with curl, counting connections accepted, denied by the rules,
 * dropped (--per-ip), open now, and how the programs ended (exit code or signal). HEAD
 * answers like GET without the body; other methods and paths get 404.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { applet, requireTool, run, startPortServer, tempDir, type PortServer } from "../helpers.ts";
import { freePort } from "../conf/pop3_client.ts";

const dir = tempDir("serve-metrics");
const rules = join(dir, "rules.cdb");
expect(run([applet("tcprules"), rules, join(dir, "rules.tmp")], { stdin: "127.0.0.2:deny\n:allow\n" }).code).toBe(0);

let server: PortServer | undefined;
let metricsPort = 0;

afterAll(async () => {
  await server?.stop();
});

function curl(args: string[]): { code: number; out: string } {
  const r = run([requireTool("curl"), "-s", "--max-time", "10", ...args]);
  return { code: r.code, out: r.out };
}

function metrics(): string {
  const r = curl([`http://127.0.0.1:${metricsPort}/metrics`]);
  expect(r.code).toBe(0);
  return r.out;
}

function value(text: string, sample: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

/** Connects (from `from`), sends `send`, and resolves when the server closes. */
function client(port: number, send: string | undefined, from = "127.0.0.1"): { done: Promise<void>; socket: Socket } {
  const socket = connect({ host: "127.0.0.1", port, localAddress: from });
  const done = new Promise<void>((resolve) => {
    socket.on("connect", () => { if (send !== undefined) socket.write(send); });
    socket.on("close", () => resolve());
    socket.on("error", () => resolve());
    socket.resume();
  });
  return { done, socket };
}

async function waitFor(probe: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${metrics()}`);
    await Bun.sleep(50);
  }
}

describe("serve --metrics with a program per connection", () => {
  test("connections, denials, drops, open connections and program exits, in Prometheus text", async () => {
    metricsPort = await freePort();
    // The program exits with the code the client sends, or is killed by the signal it names.
    const program = ["/bin/sh", "-c", 'read what; case "$what" in KILL) kill -9 $$;; *) exit "$what";; esac'];
    server = await startPortServer([applet("tcpserver"), "-1", "-HR", "--per-ip", "2", "--metrics", `127.0.0.1:${metricsPort}`, "-x", rules, "127.0.0.1", "0", ...program]);
    const port = server.port;
    const empty = metrics();
    expect(value(empty, "poppin_connections_total")).toBe(0);
    expect(value(empty, "poppin_connections_limit")).toBe(40);
    expect(empty).toContain("# TYPE poppin_programs_exited_total counter\n");

    // The client sees the close before serve sees the exit: wait for serve before the next step (--per-ip 2).
    const idle = () => waitFor(() => value(metrics(), "poppin_connections_open") === 0, "no open connection");
    await Promise.all([client(port, "0\n").done, client(port, "0\n").done]);
    await idle();
    await client(port, "7\n").done;
    await idle();
    await client(port, "KILL\n").done;
    await idle();
    await client(port, undefined, "127.0.0.2").done; // denied by the rules
    await idle();
    // Two connections held open, then a third from the same address: dropped by --per-ip.
    const held = [client(port, undefined), client(port, undefined)];
    await waitFor(() => value(metrics(), "poppin_connections_open") === 2, "two open connections");
    await client(port, "0\n").done;
    const during = metrics();
    expect(value(during, "poppin_connections_open")).toBe(2);
    for (const h of held) h.socket.end("3\n");
    await Promise.all(held.map((h) => h.done));
    await idle();

    const text = metrics();
    expect(value(text, "poppin_connections_total")).toBe(8);
    expect(value(text, "poppin_connections_denied_total")).toBe(1);
    expect(value(text, "poppin_connections_dropped_total")).toBe(1);
    expect(value(text, 'poppin_programs_exited_total{code="0"}')).toBe(2);
    expect(value(text, 'poppin_programs_exited_total{code="3"}')).toBe(2);
    expect(value(text, 'poppin_programs_exited_total{code="7"}')).toBe(1);
    expect(value(text, 'poppin_programs_exited_total{signal="SIGKILL"}')).toBe(1);
    expect(server.log()).toContain("tcpserver: warning: dropping connection, 127.0.0.1 already has 2 connections (--per-ip)\n");
  });

  test("HEAD answers like GET without a body; other methods and paths get 404", () => {
    const get = run([requireTool("curl"), "-s", "-D", "-", `http://127.0.0.1:${metricsPort}/metrics`]).out;
    const head = run([requireTool("curl"), "-s", "-I", `http://127.0.0.1:${metricsPort}/metrics`]).out;
    const [getHeaders, getBody] = get.split("\r\n\r\n");
    expect(head.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true);
    expect(head.endsWith("\r\n\r\n")).toBe(true);
    const header = (text: string, name: string) => new RegExp(`^${name}: (.*)\r$`, "im").exec(text)?.[1];
    expect(header(head, "content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(header(head, "content-type")).toBe(header(getHeaders!, "content-type"));
    expect(Number(header(head, "content-length"))).toBe(Buffer.byteLength(getBody!));
    expect(getBody).toContain("poppin_connections_total ");
    for (const args of [["-X", "POST"], ["-X", "DELETE"]]) {
      expect(curl(["-o", "/dev/null", "-w", "%{http_code}", ...args, `http://127.0.0.1:${metricsPort}/metrics`]).out).toBe("404");
    }
    expect(curl(["-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${metricsPort}/other`]).out).toBe("404");
  });

  test("a malformed --metrics is a usage error (exit 100, as tcpserver's)", () => {
    const r = run([applet("tcpserver"), "--metrics", "nope", "127.0.0.1", "0", "/bin/true"]);
    expect(r.stderr).toBe("tcpserver: fatal: --metrics needs HOST:PORT, not nope\n");
    expect(r.code).toBe(100);
  });
});

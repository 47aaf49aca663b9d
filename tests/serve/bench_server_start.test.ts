/**
 * The benchmarks' server start (bench/fixtures.ts, bench/standalone_servers.ts): a port the
 * bench chose itself could be the local port of one of its own outgoing connections (the
 * kernel's ephemeral range), serve's bind then failed, it exited, and the bench waited out
 * its timeout to say "poppin did not listen on PORT". Now poppin picks its port (-1, port 0),
 * the ports chosen for Dovecot lie below the ephemeral range, and a server that exits
 * before it listens is reported at once.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import net from "node:net";
import { POPPIN } from "../helpers.ts";
import { portCounter, waitForPort } from "../../bench/fixtures.ts";
import { startPoppin } from "../../bench/standalone_servers.ts";

const [ephemeralLow] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);

/** A connected client socket: its local port is one no server can bind while it lives. */
async function heldEphemeralPort(): Promise<{ port: number; close(): void }> {
  const server = net.createServer(() => {}).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((r) => client.once("connect", r));
  return { port: client.localPort!, close: () => (client.destroy(), server.close()) };
}

test("ports chosen for servers that cannot pick their own lie below the ephemeral range", () => {
  for (let round = 0; round < 20; round++) {
    const next = portCounter();
    for (let i = 0; i < 50; i++) {
      const port = next();
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port).toBeLessThan(ephemeralLow);
    }
  }
});

test("a server that cannot bind (the port is an outgoing connection's) is reported when it exits, not after the timeout", async () => {
  const held = await heldEphemeralPort();
  try {
    const proc = Bun.spawn([POPPIN, "serve", "-q", "127.0.0.1", String(held.port), "true"], { stdio: ["ignore", "ignore", "ignore"] });
    const started = Date.now();
    const outcome = await waitForPort(held.port, 30_000, "poppin", proc.exited).then(() => "listening", (e: Error) => e.message);
    expect(outcome).toBe(`poppin exited (111) before it listened on ${held.port}`);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    held.close();
  }
});

test("startPoppin: the server picks its port and the bench gets the one it listens on", async () => {
  const held = await heldEphemeralPort();
  const servers = [];
  try {
    for (const mode of ["classic", "inline"] as const) {
      const s = await startPoppin({ poppin: POPPIN, mode, limit: 4 });
      servers.push(s);
      expect(s.port).not.toBe(held.port);
      const greeting = await new Promise<string>((resolve, reject) => {
        const c = net.connect(s.port, "127.0.0.1");
        c.once("data", (d) => (resolve(d.toString("latin1")), c.destroy()));
        c.once("error", reject);
      });
      expect({ mode, greeting: greeting.slice(0, 4) }).toEqual({ mode, greeting: "+OK " });
    }
  } finally {
    for (const s of servers) await s.stop();
    held.close();
  }
});

/**
 * The proxy started without serve (inetd, systemd socket activation: the connection on fds
 * 0 and 1, no TCPREMOTEIP): the PROXY header carries the client's address taken from the
 * connection itself; with no connection to ask (stdin a pipe) it is PROXY v2 LOCAL, and the
 * backend takes the connection's own address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import net from "node:net";
import { parseProxyHeader } from "../../mod/serve/proxy_protocol.ts";
import { parseSockaddr } from "../../mod/sys/socket_name.ts";
import { applet, type PortServer } from "../helpers.ts";
import { makeUsers, routesCdb, startBackend, waitForLog, type Users } from "./topology.ts";

const QUICK = { POPPIN_AUTH_FAILURE_DELAY: "0" };
/** No TCPREMOTEIP, TCPLOCALIP ...: what inetd gives its programs. */
const BARE_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...QUICK };

/** `popup HOST proxy ROUTES` on an inherited connection (inetd's nowait service): resolves with its stderr once it exits. */
function inetdProxy(routes: string): Promise<{ port: number; done: Promise<string>; close(): void }> {
  return new Promise((resolve) => {
    let finished: (log: string) => void = () => {};
    const done = new Promise<string>((r) => (finished = r));
    const server = net.createServer({ pauseOnConnect: true }, (sock) => {
      const child = spawn(applet("qmail-popup"), ["proxy.example.org", applet("proxy"), routes], { stdio: [sock, sock, "pipe"], env: BARE_ENV });
      sock.destroy(); // the child holds the connection now
      let log = "";
      child.stderr!.on("data", (c: Buffer) => (log += c.toString("latin1")));
      child.on("close", () => finished(log));
    });
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, done, close: () => server.close() }));
  });
}

/** A backend that records the PROXY header it is sent and answers +OK to the login and QUIT. */
function recordingBackend(): Promise<{ port: number; headers: Buffer[]; close(): void }> {
  return new Promise((resolve) => {
    const headers: Buffer[] = [];
    const server = net.createServer((sock) => {
      sock.on("error", () => {});
      sock.write("+OK recording\r\n");
      let got = Buffer.alloc(0);
      let answered = 0;
      sock.on("data", (c: Buffer) => {
        got = Buffer.concat([got, c]);
        const parsed = parseProxyHeader(got);
        if (parsed.kind !== "done") return;
        if (headers.length === 0 || answered === 0) headers.splice(0, headers.length, got.subarray(0, parsed.length));
        const lines = got.subarray(parsed.length).toString("latin1").split("\r\n").slice(0, -1);
        for (; answered < lines.length; answered++) {
          if (lines[answered]!.startsWith("QUIT")) sock.end("+OK bye\r\n");
          else sock.write("+OK \r\n");
        }
      });
    });
    server.listen(0, "127.0.0.3", () => resolve({ port: (server.address() as net.AddressInfo).port, headers, close: () => server.close() }));
  });
}

/** Sends `script` from `from` to `port`, returns what came back until the close. */
function exchange(from: string, port: number, script: string): Promise<{ out: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    let out = "";
    let localPort = -1;
    const sock = net.connect({ host: "127.0.0.1", port, localAddress: from }, () => {
      localPort = sock.localPort ?? -1;
      sock.write(script);
    });
    const timer = setTimeout(() => reject(new Error(`no close; got ${out}`)), 15_000);
    sock.on("data", (c: Buffer) => (out += c.toString("latin1")));
    sock.on("error", reject);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ out, localPort });
    });
  });
}

describe("sockaddr parsing", () => {
  test("IPv4, IPv6 (shortest form), an IPv4 client of an IPv6 socket, and other families", () => {
    const v4 = new Uint8Array(16);
    v4.set([2, 0, 0x1f, 0x90, 192, 0, 2, 7]);
    expect(parseSockaddr(v4, 16)).toEqual({ ip: "192.0.2.7", port: 8080 });
    const v6 = new Uint8Array(28);
    v6.set([10, 0, 0, 110]);
    v6.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], 8);
    expect(parseSockaddr(v6, 28)).toEqual({ ip: "2001:db8::7", port: 110 });
    v6.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9], 8);
    expect(parseSockaddr(v6, 28)).toEqual({ ip: "198.51.100.9", port: 110 });
    const unix = new Uint8Array(110);
    unix.set([1, 0]);
    expect(parseSockaddr(unix, 110)).toBeNull();
  });
});

describe("the proxy started by inetd (no TCPREMOTEIP)", () => {
  let users: Users;
  let backend: PortServer;
  beforeAll(async () => {
    users = makeUsers({ alice: "alice pw" }, (u) => [Buffer.from(`Subject: for ${u}\n\nonly ${u} reads this\n`)]);
    backend = await startBackend("127.0.0.2", 0, users, QUICK);
  });
  afterAll(async () => {
    await backend?.stop();
  });

  test("the PROXY header carries the client's address and port and the address it reached, read from the connection", async () => {
    const fake = await recordingBackend();
    const proxy = await inetdProxy(routesCdb(`*:127.0.0.3:${fake.port}\n`));
    try {
      const { out, localPort } = await exchange("127.0.0.5", proxy.port, "USER carol\r\nPASS pw\r\nQUIT\r\n");
      expect(out).toBe("+OK \r\n+OK \r\n+OK \r\n+OK bye\r\n");
      expect(fake.headers.length).toBe(1);
      expect(parseProxyHeader(fake.headers[0]!)).toMatchObject({
        kind: "done",
        addresses: { sourceIp: "127.0.0.5", sourcePort: localPort, destinationIp: "127.0.0.1", destinationPort: proxy.port },
      });
      expect(await proxy.done).toMatch(/poppin proxy: info: end=\S+ user=carol rip=127\.0\.0\.5 backend=127\.0\.0\.3:\d+ /);
    } finally {
      proxy.close();
      fake.close();
    }
  });

  test("a poppin backend behind it logs the client's address", async () => {
    const proxy = await inetdProxy(routesCdb(`*:127.0.0.2:${backend.port}\n`));
    try {
      const { out } = await exchange("127.0.0.6", proxy.port, "USER alice\r\nPASS alice pw\r\nRETR 1\r\nQUIT\r\n");
      expect(out).toContain("only alice reads this");
      await waitForLog(backend.log, "end=quit user=alice rip=127.0.0.6");
      expect(backend.log()).toContain("qmail-pop3d: info: end=quit user=alice rip=127.0.0.6");
    } finally {
      proxy.close();
    }
  });

  test("stdin a pipe (no connection to ask): PROXY v2 LOCAL, and the backend logs the connection's own address", async () => {
    const fake = await recordingBackend();
    const run = (routes: string) => Bun.spawn([applet("qmail-popup"), "proxy.example.org", applet("proxy"), routes], {
      stdin: Buffer.from("USER alice\r\nPASS alice pw\r\nQUIT\r\n"), stdout: "pipe", stderr: "pipe", env: BARE_ENV,
    });
    try {
      const toFake = run(routesCdb(`*:127.0.0.3:${fake.port}\n`));
      expect(await new Response(toFake.stdout).text()).toBe("+OK \r\n+OK \r\n+OK \r\n+OK bye\r\n");
      await toFake.exited;
      expect(fake.headers.length).toBe(1);
      expect(fake.headers[0]!.length).toBe(16);
      expect(fake.headers[0]![12]).toBe(0x20); // version 2, LOCAL
      expect(parseProxyHeader(fake.headers[0]!)).toEqual({ kind: "done", length: 16, addresses: null });
      const toBackend = run(routesCdb(`*:127.0.0.2:${backend.port}\n`));
      expect(await new Response(toBackend.stdout).text()).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n$/);
      await toBackend.exited;
      // The backend's peer is the proxy's connection: from 127.0.0.1 to 127.0.0.2.
      await waitForLog(backend.log, /end=quit user=alice rip=127\.0\.0\.1\b/);
      expect(backend.log()).toMatch(/qmail-pop3d: info: end=quit user=alice rip=127\.0\.0\.1\b/);
    } finally {
      fake.close();
    }
  });
});

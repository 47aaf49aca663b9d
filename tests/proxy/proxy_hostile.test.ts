/**
 * A hostile client and a broken backend, against both hosts of the proxy (the classic chain,
 * a process per connection, and serve --inline): whatever either side does, the proxy holds
 * nothing longer than it must, relays nothing before the backend's +OK, and tells a broken
 * backend (temporary) from a wrong password.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import type { PortServer } from "../helpers.ts";
import { applet, startPortServer } from "../helpers.ts";
import { makeUsers, routesCdb, startBackend, startProxy, talk, waitForLog } from "./topology.ts";

const QUICK = { POPPIN_AUTH_FAILURE_DELAY: "0" };

interface Fake {
  port: number;
  /** When each connection closed (ms since the epoch), in order. */
  closedAt: number[];
  /** Octets written to the proxy after the login, per connection. */
  written: number[];
  close(): void;
}

/** A backend that waits for the whole pipelined login (header, USER and PASS or AUTH PLAIN), then does `onLogin`. */
async function fakeBackend(onLogin: (sock: net.Socket, index: number, fake: Fake) => void): Promise<Fake> {
  const fake: Fake = { port: 0, closedAt: [], written: [], close: () => server.close() };
  let count = 0;
  const server = net.createServer((sock) => {
    const index = count++;
    fake.written[index] = 0;
    sock.on("error", () => {});
    sock.on("close", () => {
      fake.closedAt[index] = Date.now();
    });
    let got = "";
    let done = false;
    sock.on("data", (chunk: Buffer) => {
      got += chunk.toString("latin1");
      if (!done && (got.includes("PASS ") || got.includes("AUTH PLAIN ")) && got.endsWith("\r\n")) {
        done = true;
        onLogin(sock, index, fake);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.4", resolve));
  fake.port = (server.address() as net.AddressInfo).port;
  return fake;
}

const hosts = [
  { name: "classic chain", inline: false },
  { name: "serve --inline", inline: true },
];

const FAILED_TEMP = "-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n";

describe.each(hosts)("proxy ($name) against a hostile client or a broken backend", ({ inline }) => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanup) await c();
  });
  async function proxyTo(fake: Fake, env: Record<string, string> = {}): Promise<PortServer> {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.4:${fake.port}\n`), { inline, env: { ...QUICK, ...env } });
    cleanup.push(() => proxy.stop(), () => fake.close());
    return proxy;
  }

  test("a client that resets or closes its side while the backend logs in frees the backend at once, not after the idle timeout", async () => {
    // The backend takes 600 ms to accept the login, then keeps the session open.
    const fake = await fakeBackend((sock) => setTimeout(() => sock.write("+OK \r\n+OK \r\n+OK in\r\n"), 600));
    const proxy = await proxyTo(fake, { POPPIN_TIMEOUT: "60" });
    for (const how of ["reset", "half-close"] as const) {
      const index = fake.written.length;
      const sock = net.connect({ host: "127.0.0.1", port: proxy.port, localAddress: "127.0.0.5", allowHalfOpen: true });
      sock.on("error", () => {});
      sock.on("data", () => {});
      await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
      sock.write("USER frank\r\nPASS pw\r\n");
      while (fake.written.length <= index) await Bun.sleep(10); // the proxy is logging in at the backend
      const leftAt = Date.now();
      if (how === "reset") sock.resetAndDestroy();
      else sock.end();
      for (let i = 0; i < 300 && fake.closedAt[index] === undefined; i++) await Bun.sleep(20);
      expect(fake.closedAt[index]).toBeDefined();
      expect(fake.closedAt[index]! - leftAt).toBeLessThan(4000);
      sock.destroy();
    }
    await waitForLog(proxy.log, /end=client-closed user=frank/);
    expect(proxy.log()).toMatch(/poppin proxy: info: end=client-(error|closed) user=frank rip=127\.0\.0\.5 .* from_client=0 to_client=0/);
    expect(proxy.log()).toMatch(/poppin proxy: info: end=client-closed user=frank rip=127\.0\.0\.5 /);
    expect(proxy.log()).not.toContain("end=timeout");
  });

  test("an answer longer than 1024 octets is no login even when it comes whole with its end of line: nothing of it reaches the client", async () => {
    const fake = await fakeBackend((sock) => sock.write(`+OK \r\n+OK \r\n+OK ${"x".repeat(5000)}\r\n`));
    const proxy = await proxyTo(fake);
    const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER x\r\nPASS y\r\nQUIT\r\n");
    expect(out).toBe(`+OK \r\n+OK \r\n${FAILED_TEMP}+OK \r\n`);
    await waitForLog(proxy.log, "backend unavailable");
    expect(proxy.log()).toContain("why=answer%20longer%20than%201024%20octets");
    const greeting = await fakeBackend((sock) => sock.write(`+OK ${"g".repeat(2000)}\r\n+OK \r\n+OK \r\n`));
    const proxy2 = await proxyTo(greeting);
    expect(await talk("127.0.0.5", "127.0.0.1", proxy2.port, "USER x\r\nPASS y\r\nQUIT\r\n")).toBe(`+OK \r\n+OK \r\n${FAILED_TEMP}+OK \r\n`);
  });

  test("an answer that is neither +OK nor -ERR is a broken backend ([SYS/TEMP]), not a wrong password; a -ERR is logged as the backend's own octets", async () => {
    const fake = await fakeBackend((sock, index) => {
      if (index === 0) sock.write(Buffer.from("+OK \r\n\x00\x01 garbage\xff\r\n+OK \r\n", "latin1"));
      else if (index === 1) sock.write("+OK \r\n+OKAY\r\n+OK \r\n");
      else {
        sock.write(Buffer.concat([Buffer.from("+OK \r\n+OK \r\n-ERR [AUTH] f"), Buffer.from([0xc3, 0xbf]), Buffer.from("r\r\n")]));
        sock.on("data", (c: Buffer) => c.includes("QUIT\r\n") && sock.end("+OK bye\r\n"));
      }
    });
    const proxy = await proxyTo(fake);
    for (const user of ["garbage", "okay"]) {
      expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, `USER ${user}\r\nPASS y\r\nQUIT\r\n`)).toBe(`+OK \r\n+OK \r\n${FAILED_TEMP}+OK \r\n`);
    }
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER wrong\r\nPASS y\r\nQUIT\r\n")).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
    await waitForLog(proxy.log, "user=wrong rip");
    expect(proxy.log()).toMatch(/backend unavailable user=garbage rip=127\.0\.0\.5 backend=127\.0\.0\.4:\d+ why=answer%20%00%01%20garbage%FF\n/);
    expect(proxy.log()).toMatch(/backend unavailable user=okay rip=127\.0\.0\.5 backend=127\.0\.0\.4:\d+ why=answer%20\+OKAY\n/);
    expect(proxy.log()).not.toMatch(/authorization failed rip=127\.0\.0\.5 user=(garbage|okay)/);
    expect(proxy.log()).toMatch(/backend refused the login user=wrong rip=127\.0\.0\.5 backend=127\.0\.0\.4:\d+ reply=-ERR%20\[AUTH\]%20f%C3%BFr\n/);
  });

  test("a backend that does not take the PROXY header (no --proxy) is a temporary failure, not the user's wrong password", async () => {
    // A real backend, started without --proxy: it reads the header's signature as commands.
    const backend = await startPortServer([
      applet("tcpserver"), "-1", "-v", "-HR", "127.0.0.4", "0",
      applet("qmail-popup"), "backend.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir",
    ], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...QUICK } });
    const proxy = await proxyTo({ port: backend.port, closedAt: [], written: [], close: () => backend.stop() });
    const plain = Buffer.from("\0joe\0pw").toString("base64");
    for (const login of ["USER joe\r\nPASS pw\r\n", `AUTH PLAIN ${plain}\r\n`]) {
      const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, `${login}QUIT\r\n`);
      expect(out).toEndWith(`${FAILED_TEMP}+OK \r\n`);
    }
    await waitForLog(proxy.log, /mech=PLAIN why=/);
    const unavailable = proxy.log().match(/backend unavailable user=joe rip=127\.0\.0\.5 backend=127\.0\.0\.4:\d+ why=the%20backend%20answered%20the%20PROXY%20header%20as%20commands/g);
    expect(unavailable?.length).toBe(2);
    expect(proxy.log()).not.toContain("authorization failed rip=127.0.0.5 user=joe");
  });

  test("a backend that echoes the refused command does not put the password into the proxy's log", async () => {
    const fake = await fakeBackend((sock, index) => {
      const echo = (index === 0 ? "-ERR bad command PASS s3cr3t pw, s3cr3t pw again" : `-ERR bad AUTH PLAIN ${Buffer.from("\0joe\0s3cr3t pw").toString("base64")}`);
      sock.write(`+OK \r\n${index === 0 ? "+OK \r\n" : ""}${echo}\r\n`);
      sock.on("data", (c: Buffer) => c.includes("QUIT\r\n") && sock.end("+OK bye\r\n"));
    });
    const proxy = await proxyTo(fake);
    const plain = Buffer.from("\0joe\0s3cr3t pw").toString("base64");
    for (const login of ["USER joe\r\nPASS s3cr3t pw\r\n", `AUTH PLAIN ${plain}\r\n`]) {
      expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, `${login}QUIT\r\n`)).toEndWith("-ERR [AUTH] authorization failed\r\n+OK \r\n");
    }
    await waitForLog(proxy.log, /mech=PLAIN/);
    expect(proxy.log()).toMatch(/backend refused the login user=joe rip=127\.0\.0\.5 backend=\S+ reply=-ERR%20bad%20command%20PASS%20\*,%20\*%20again\n/);
    expect(proxy.log()).toMatch(/backend refused the login user=joe rip=127\.0\.0\.5 backend=\S+ reply=-ERR%20bad%20AUTH%20PLAIN%20\*\n/);
    expect(proxy.log()).not.toContain("s3cr3t");
    expect(proxy.log()).not.toContain(plain);
  });

  test("a backend's -ERR [LOGIN-DELAY] (the user polls too soon) is temporary, not a failed login", async () => {
    const users = makeUsers({ lou: "lou pw" }, () => []);
    const backend = await startBackend("127.0.0.4", 0, users, { ...QUICK, POPPIN_ANNOUNCE_LOGIN_DELAY: "600" });
    const proxy = await proxyTo({ port: backend.port, closedAt: [], written: [], close: () => backend.stop() });
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER lou\r\nPASS lou pw\r\nQUIT\r\n")).toMatch(/^\+OK [^\r]*\r\n\+OK [^\r]*\r\n\+OK [^\r]*\r\n\+OK/);
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER lou\r\nPASS lou pw\r\nQUIT\r\n")).toEndWith(`${FAILED_TEMP}+OK \r\n`);
    await waitForLog(proxy.log, "LOGIN-DELAY");
    expect(proxy.log()).toMatch(/backend refused the login user=lou rip=127\.0\.0\.5 backend=\S+ reply=-ERR%20\[LOGIN-DELAY\]/);
    expect(proxy.log()).not.toContain("authorization failed rip=127.0.0.5 user=lou");
  });

  test("POPPIN_BACKEND_TIMEOUT bounds the whole login: a backend that drips its answers, each in time, is [SYS/TEMP] at the bound", async () => {
    const fake = await fakeBackend((sock) => {
      let n = 0;
      const drip = setInterval(() => (sock.destroyed || ++n > 3 ? clearInterval(drip) : sock.write("+OK \r\n")), 1500);
    });
    const proxy = await proxyTo(fake, { POPPIN_BACKEND_TIMEOUT: "2" });
    const started = Date.now();
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER drip\r\nPASS pw\r\nQUIT\r\n")).toEndWith(`${FAILED_TEMP}+OK \r\n`);
    expect(Date.now() - started).toBeLessThan(4000);
    await waitForLog(proxy.log, "backend unavailable");
    expect(proxy.log()).toMatch(/backend unavailable user=drip rip=127\.0\.0\.5 backend=\S+ why=no%20answer%20within%202%20s/);
  });

  test("a client that never reads stops the proxy reading from the backend (bounded by the socket buffers)", async () => {
    const CHUNK = Buffer.alloc(64 * 1024, 0x41);
    const fake = await fakeBackend((sock, index, f) => {
      sock.write("+OK \r\n+OK \r\n+OK in\r\n");
      const pump = () => {
        while (f.written[index]! < 200e6 && !sock.destroyed) {
          f.written[index]! += CHUNK.length;
          if (!sock.write(CHUNK)) return void sock.once("drain", pump);
        }
      };
      pump();
    });
    const proxy = await proxyTo(fake);
    const sock = net.connect({ host: "127.0.0.1", port: proxy.port, localAddress: "127.0.0.5" });
    sock.on("error", () => {});
    sock.on("connect", () => {
      sock.write("USER slow\r\nPASS pw\r\n");
      sock.pause(); // reads nothing
    });
    let last = -1;
    let still = 0;
    for (let i = 0; i < 40 && still < 4; i++) {
      await Bun.sleep(250);
      const now = fake.written[0] ?? 0;
      still = now > 0 && now === last ? still + 1 : 0; // the backend is blocked: nobody reads it
      last = now;
    }
    expect(still).toBe(4);
    expect(fake.written[0]!).toBeLessThan(64e6); // kernel buffers on three sockets, not 200 MB in the proxy
    sock.destroy();
  });

  test("a backend that never reads stops the proxy reading from the client (bounded by the socket buffers)", async () => {
    const fake = await fakeBackend((sock) => {
      sock.write("+OK \r\n+OK \r\n+OK in\r\n");
      sock.pause(); // reads nothing more
    });
    const proxy = await proxyTo(fake);
    const sock = net.connect({ host: "127.0.0.1", port: proxy.port, localAddress: "127.0.0.5" });
    sock.on("error", () => {});
    let sent = 0;
    let loggedIn = false;
    const LINE = Buffer.from(`NOOP ${"x".repeat(1000)}\r\n`);
    const CHUNK = Buffer.concat(Array.from({ length: 64 }, () => LINE));
    const pump = () => {
      while (sent < 200e6 && !sock.destroyed) {
        sent += CHUNK.length;
        if (!sock.write(CHUNK)) return void sock.once("drain", pump);
      }
    };
    sock.on("data", (chunk: Buffer) => {
      if (!loggedIn && chunk.toString("latin1").includes("+OK in")) {
        loggedIn = true;
        pump();
      }
    });
    sock.on("connect", () => sock.write("USER stuck\r\nPASS pw\r\n"));
    let last = -1;
    let still = 0;
    for (let i = 0; i < 40 && still < 4; i++) {
      await Bun.sleep(250);
      still = sent > 0 && sent === last ? still + 1 : 0; // the client is blocked: the proxy stopped reading it
      last = sent;
    }
    expect(loggedIn).toBe(true);
    expect(still).toBe(4);
    expect(sent).toBeLessThan(64e6); // kernel buffers on three sockets, not 200 MB in the proxy
    sock.destroy();
  });
});

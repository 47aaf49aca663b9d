/**
 * `serve --inline ... popup HOST proxy ROUTES.cdb`: the proxy tier in one process, with TLS
 * (STLS or --tls) ending at the proxy and plain text, or TLS with --backend-tls, to the backend.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import type { PortServer } from "../helpers.ts";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { stlsWithInjection } from "../tls/harness.ts";
import { expectPromptHalfClose, makeUsers, poplibFrom, routesCdb, startBackend, startProxy, talk, waitForLog, type Users } from "./topology.ts";

const QUICK = { POPPIN_AUTH_FAILURE_DELAY: "0" };
const message = (user: string) => [Buffer.from(`Subject: for ${user}\n\nonly ${user} reads this\n`)];

/** A self-signed certificate for the backends' addresses (127.0.0.1 to 127.0.0.3). */
function backendCertificate(): { cert: string; key: string } {
  const dir = tempDir("cert");
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
    "-days", "2", "-subj", "/CN=backend", "-addext", "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3"]);
  if (r.code !== 0) throw new Error(`openssl req: ${r.stderr}`);
  chmodSync(key, 0o600);
  return { cert, key };
}

/** STLS with `injected` in the same write; after its +OK, the handshake and `inside` over TLS. What came in clear, then "[tls]" and what came inside. */
async function stlsWithInjectionText(port: number, injected: string, inside: string): Promise<string> {
  const r = await stlsWithInjection(port, injected, inside);
  return `${r.plain}${r.started ? `[tls]${r.secure}` : ""}[${r.how}]`;
}

describe("serve --inline proxy", () => {
  let users: Users;
  let plainBackend: PortServer;
  let tlsBackend: PortServer;
  const servers: PortServer[] = [];
  const cert = backendCertificate();
  const tlsFiles = { CERTFILE: cert.cert, KEYFILE: cert.key };

  beforeAll(async () => {
    users = makeUsers({ alice: "alice pw", bob: "bob pw" }, message);
    plainBackend = await startBackend("127.0.0.2", 0, users, QUICK);
    tlsBackend = await startBackend("127.0.0.3", 0, users, { ...QUICK, ...tlsFiles }, ["--tls"]);
  });
  afterAll(async () => {
    for (const s of [...servers, plainBackend, tlsBackend]) await s?.stop();
  });

  test("plain: the login reaches the backend, which logs the client's address; one line per session on the proxy", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { inline: true, env: QUICK });
    servers.push(proxy);
    expect(await poplibFrom("127.0.0.5", proxy.port, "alice", "alice pw")).toContain("only alice reads this");
    expect(await poplibFrom("127.0.0.6", proxy.port, "bob", "wrong")).toBe("error: -ERR [AUTH] authorization failed\n");
    await waitForLog(plainBackend.log, "end=quit user=alice rip=127.0.0.5");
    expect(plainBackend.log()).toContain("qmail-pop3d: info: end=quit user=alice rip=127.0.0.5");
    await waitForLog(proxy.log, "poppin proxy: info:");
    expect(proxy.log()).toMatch(/poppin proxy: info: end=(backend|client)-closed user=alice rip=127\.0\.0\.5 backend=127\.0\.0\.2:\d+ from_client=\d+ to_client=\d+ seconds=/);
    expect(proxy.log()).toMatch(/poppin proxy: warning: backend refused the login user=bob rip=127\.0\.0\.6/);
    expect(proxy.log()).toContain("qmail-popup: warning: authorization failed rip=127.0.0.6 user=bob");
    // serve's own lines: one process (the pid of every session is serve's)
    const pids = new Set([...proxy.log().matchAll(/tcpserver: pid (\d+) from/g)].map((m) => m[1]));
    expect(pids.size).toBe(1);
    // A proxy node serves no mailbox: run as root, it starts no mail workers (nor crypt helpers: it checks no password).
    const children = run(["pgrep", "-a", "-P", String(proxy.proc.pid)]).out;
    expect(children).not.toContain("--mail-worker");
    expect(children).not.toContain("--crypt-helper");
  });

  test("a client that closes its side after QUIT still gets every answer", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { inline: true, env: QUICK });
    servers.push(proxy);
    const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER bob\r\nPASS bob pw\r\nSTAT\r\nQUIT\r\n", 15_000, true);
    expect(out).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
  });

  // The answer to QUIT leaves the backend and the proxy together with their FIN (MSG_MORE, then
  // the close): whatever the QUIT line looks like, and whatever follows it, the answer arrives.
  test("the answer to QUIT arrives before the close: pipelined, lower case, a bare LF, or with input after it", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { inline: true, env: QUICK });
    servers.push(proxy);
    const login = "USER bob\r\nPASS bob pw\r\n";
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, `${login}STAT\r\nQUIT\r\n`)).toMatch(/^(\+OK[^\r]*\r\n){3}\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, `${login}STAT\r\nquit\n`)).toMatch(/^(\+OK[^\r]*\r\n){3}\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
    // Input after QUIT: the backend leaves it unread and half-closes; the answer still comes first.
    expect(await talk("127.0.0.5", "127.0.0.1", proxy.port, `${login}QUIT\r\nNOOP\r\n`)).toMatch(/^(\+OK[^\r]*\r\n){4}$/);
    // QUIT on its own, after the answer to STAT came back (the relay sees it as one piece).
    const client = await import("node:net").then((net) => net.connect({ host: "127.0.0.1", port: proxy.port, localAddress: "127.0.0.5" }));
    const transcript = await new Promise<string>((resolve, reject) => {
      let got = "";
      let step = 0;
      client.on("data", (c: Buffer) => {
        got += c.toString("latin1");
        const lines = got.split("\r\n").length - 1;
        if (step === 0 && lines >= 1) (step = 1, client.write(login));
        else if (step === 1 && lines >= 3) (step = 2, client.write("STAT\r\n"));
        else if (step === 2 && lines >= 4) (step = 3, client.write("QUIT\r\n"));
      });
      client.on("error", reject);
      client.on("close", () => resolve(got));
    });
    expect(transcript).toMatch(/^(\+OK[^\r]*\r\n){3}\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
    await waitForLog(proxy.log, /(end=backend-closed user=bob[^\n]*\n[^]*){4}/);
    expect(proxy.log().match(/end=backend-closed user=bob/g)?.length).toBe(4);
  });

  // The relay passes the client's end of input on to the backend and ends when the backend
  // closes: the answers and the close come at once, not after the relay's 5 s grace period.
  // (2 s: far above the tens of milliseconds this takes, far below the grace period.)
  test("a client that closes its side after the login gets the answers and the close promptly, with or without QUIT", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { inline: true, env: QUICK });
    servers.push(proxy);
    const port = proxy.port;
    await expectPromptHalfClose(port);
  });

  test("a route change (routes compile renames a new table into place) applies at the next login, without a restart", async () => {
    const routes = routesCdb("*:127.0.0.4:1\n");
    const proxy = await startProxy("127.0.0.1", 0, routes, { inline: true, env: QUICK });
    servers.push(proxy);
    expect(await poplibFrom("127.0.0.5", proxy.port, "alice", "alice pw")).toStartWith("error: -ERR [SYS/TEMP]");
    const r = run([applet("routes"), "compile", routes, `${routes}.tmp`], { stdin: `*:127.0.0.2:${plainBackend.port}\n` });
    expect(r.code).toBe(0);
    expect(await poplibFrom("127.0.0.5", proxy.port, "alice", "alice pw")).toContain("only alice reads this");
  });

  test("200 KB of plaintext pipelined after STLS is dropped: the handshake completes and the login inside TLS reaches the backend", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { inline: true, env: { ...QUICK, ...tlsFiles } });
    servers.push(proxy);
    const text = await stlsWithInjectionText(proxy.port, `USER alice\r\n${"NOOP\r\n".repeat(33_000)}`, "USER bob\r\nPASS bob pw\r\nSTAT\r\nQUIT\r\n");
    expect(text).toMatch(/\+OK Begin TLS negotiation\r\n\[tls\]\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK 1 \d+\r\n\+OK[^\r]*\r\n\[closed\]$/);
  });

  test("STLS ends at the proxy; the backend gets plain text", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { inline: true, env: { ...QUICK, ...tlsFiles } });
    servers.push(proxy);
    expect(await poplibFrom("127.0.0.7", proxy.port, "bob", "bob pw", "stls")).toContain("only bob reads this");
    await waitForLog(plainBackend.log, "user=bob rip=127.0.0.7");
    expect(plainBackend.log()).toContain("qmail-pop3d: info: end=quit user=bob rip=127.0.0.7");
  });

  test("--tls at the proxy and --backend-tls to a TLS backend (its certificate checked against POPPIN_BACKEND_CA)", async () => {
    const routes = routesCdb(`*:127.0.0.3:${tlsBackend.port}\n`);
    const proxy = await startProxy("127.0.0.1", 0, routes, { inline: true, serveArgs: ["--tls"], proxyArgs: ["--backend-tls"], env: { ...QUICK, ...tlsFiles, POPPIN_BACKEND_CA: cert.cert } });
    servers.push(proxy);
    expect(await poplibFrom("127.0.0.8", proxy.port, "alice", "alice pw", "tls")).toContain("only alice reads this");
    await waitForLog(tlsBackend.log, "user=alice rip=127.0.0.8");
    expect(tlsBackend.log()).toContain("qmail-pop3d: info: end=quit user=alice rip=127.0.0.8");
    // Plain text to a TLS backend is no login; an unknown certificate neither: both are temporary failures.
    const plainToTls = await startProxy("127.0.0.1", 0, routes, { inline: true, env: { ...QUICK, POPPIN_BACKEND_TIMEOUT: "1" } });
    servers.push(plainToTls);
    expect(await poplibFrom("127.0.0.5", plainToTls.port, "alice", "alice pw")).toStartWith("error: -ERR [SYS/TEMP]");
    const untrusted = await startProxy("127.0.0.1", 0, routes, { inline: true, proxyArgs: ["--backend-tls"], env: QUICK });
    servers.push(untrusted);
    expect(await poplibFrom("127.0.0.5", untrusted.port, "alice", "alice pw")).toStartWith("error: -ERR [SYS/TEMP]");
    await waitForLog(untrusted.log, "backend unavailable");
    expect(untrusted.log()).toMatch(/backend unavailable user=alice rip=127\.0\.0\.5 backend=127\.0\.0\.3:\d+ why=TLS%20failed/);
  });

  test("the classic chain: after STLS popup relays through pipes, and the proxy relays those to the backend", async () => {
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${plainBackend.port}\n`), { env: { ...QUICK, ...tlsFiles } });
    servers.push(proxy);
    expect(await poplibFrom("127.0.0.6", proxy.port, "alice", "alice pw", "stls")).toContain("only alice reads this");
    await waitForLog(proxy.log, "poppin proxy: info:");
    expect(proxy.log()).toMatch(/poppin proxy: info: end=\S+ user=alice rip=127\.0\.0\.6 backend=127\.0\.0\.2:\d+ from_client=\d+ to_client=\d+/);
  });

  test("the classic proxy applet speaks --backend-tls too", async () => {
    const routes = routesCdb(`*:127.0.0.3:${tlsBackend.port}\n`);
    const proxy = await startProxy("127.0.0.1", 0, routes, { proxyArgs: ["--backend-tls"], env: { ...QUICK, POPPIN_BACKEND_CA: cert.cert } });
    servers.push(proxy);
    expect(await poplibFrom("127.0.0.9", proxy.port, "bob", "bob pw")).toContain("only bob reads this");
  });
});

describe("the proxy's login at the backend", () => {
  test("the PROXY header, USER and PASS arrive together (one round trip); a backend whose greeting is not +OK is a temporary failure and its connection is closed", async () => {
    // A backend that says nothing until it has the whole login, then refuses with its greeting.
    const received: Buffer[] = [];
    let closed = false;
    const { createServer } = await import("node:net");
    const fake = createServer((sock) => {
      let got = Buffer.alloc(0);
      sock.on("data", (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.includes("PASS ")) {
          received.push(got);
          sock.write("-ERR [SYS/TEMP] not now\r\n");
        }
      });
      sock.on("error", () => {});
      sock.on("close", () => {
        closed = true;
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.4", resolve));
    const port = (fake.address() as { port: number }).port;
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.4:${port}\n`), { inline: true, env: { ...QUICK, POPPIN_BACKEND_TIMEOUT: "3" } });
    try {
      expect(await poplibFrom("127.0.0.5", proxy.port, "alice", "alice pw")).toStartWith("error: -ERR [SYS/TEMP]");
      expect(received.length).toBe(1);
      const login = received[0]!;
      // PROXY v2 signature, then the commands right after the header
      expect(login.subarray(0, 12).equals(Buffer.from("0d0a0d0a000d0a515549540a", "hex"))).toBe(true);
      expect(login.toString("latin1")).toEndWith("USER alice\r\nPASS alice pw\r\n");
      await waitForLog(proxy.log, "backend unavailable");
      expect(proxy.log()).toMatch(/backend unavailable user=alice rip=127\.0\.0\.5 backend=127\.0\.0\.4:\d+ why=greeting%20-ERR%20\[SYS\/TEMP\]%20not%20now/);
      for (let i = 0; i < 100 && !closed; i++) await Bun.sleep(20);
      expect(closed).toBe(true);
    } finally {
      await proxy.stop();
      fake.close();
    }
  });
});

/**
 * `popup HOST proxy ROUTES.cdb` behind serve: the proxy logs in at the user's backend with
 * the client's credentials and a PROXY v2 header, relays the session, and fails the way
 * checkpassword does (1: refused, 111: backend down or silent).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { encodeProxyV2, parseProxyHeader } from "../../mod/serve/proxy_protocol.ts";
import type { PortServer } from "../helpers.ts";
import { expectPromptHalfClose, makeUsers, routesCdb, startBackend, startProxy, talk, waitForLog, type Users } from "./topology.ts";

const QUICK = { POPPIN_AUTH_FAILURE_DELAY: "0" };
const message = (user: string) => [Buffer.from(`Subject: for ${user}\n\nonly ${user} reads this\n`)];

/** A backend that records what it is sent and says +OK to everything (or nothing at all). */
function fakeBackend(silent = false): Promise<{ port: number; received: () => Buffer; close: () => void }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const server = net.createServer((sock) => {
      sock.on("error", () => {});
      if (silent) return;
      sock.write("+OK fake\r\n");
      let text = "";
      let headerLeft = -1;
      sock.on("data", (c: Buffer) => {
        chunks.push(c);
        if (headerLeft < 0) {
          const parsed = parseProxyHeader(c);
          headerLeft = parsed.kind === "done" ? parsed.length : 0;
        }
        text += c.subarray(Math.min(headerLeft, c.length)).toString("latin1");
        headerLeft = Math.max(0, headerLeft - c.length);
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          if (line.startsWith("QUIT")) sock.end("+OK bye\r\n");
          else if (line.includes("USER") || line.includes("PASS") || line.includes("AUTH") || line.includes("STAT")) sock.write("+OK \r\n");
        }
      });
    });
    server.listen(0, "127.0.0.3", () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({ port, received: () => Buffer.concat(chunks), close: () => server.close() });
    });
  });
}

describe("PROXY v2 writer", () => {
  test("what it writes, the parser reads back: IPv4, IPv6, mixed, and LOCAL", () => {
    for (const a of [
      { sourceIp: "127.0.0.5", sourcePort: 40000, destinationIp: "127.0.0.1", destinationPort: 110 },
      { sourceIp: "2001:db8::7", sourcePort: 1, destinationIp: "::1", destinationPort: 995 },
    ]) {
      const header = encodeProxyV2(a);
      expect(parseProxyHeader(header)).toEqual({ kind: "done", length: header.length, addresses: a });
    }
    const mixed = encodeProxyV2({ sourceIp: "192.0.2.1", sourcePort: 5, destinationIp: "::1", destinationPort: 110 });
    expect(mixed[13]).toBe(0x21);
    expect(parseProxyHeader(mixed)).toMatchObject({ kind: "done", addresses: { sourceIp: "192.0.2.1", destinationIp: "::1" } });
    const local = encodeProxyV2(null);
    expect(local.length).toBe(16);
    expect(parseProxyHeader(local)).toEqual({ kind: "done", length: 16, addresses: null });
  });
});

describe("proxy behind serve (classic chain)", () => {
  let users: Users;
  let backend: PortServer;
  let proxy: PortServer;
  beforeAll(async () => {
    users = makeUsers({ alice: "alice pw", bob: "bob pw" }, message);
    backend = await startBackend("127.0.0.2", 0, users, QUICK);
    proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${backend.port}\n`), { env: QUICK });
  });
  afterAll(async () => {
    await proxy?.stop();
    await backend?.stop();
  });

  test("a login reaches the backend's mailbox; pipelined commands pass; the backend sees the client's address", async () => {
    const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER alice\r\nPASS alice pw\r\nSTAT\r\nRETR 1\r\nQUIT\r\n");
    expect(out).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK 1 \d+\r\n\+OK/);
    expect(out).toContain("only alice reads this");
    expect(out).not.toContain("bob");
    await waitForLog(backend.log, "qmail-pop3d: info: end=quit user=alice rip=127.0.0.5");
    expect(backend.log()).toContain("tcpserver: pid");
    expect(backend.log()).toMatch(/tcpserver: ok \d+ [^ ]* :127\.0\.0\.5::/);
    expect(backend.log()).toContain("qmail-pop3d: info: end=quit user=alice rip=127.0.0.5");
    await waitForLog(proxy.log, "poppin proxy: info:");
    const lines = proxy.log().split("\n").filter((l) => l.startsWith("poppin proxy: info:"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`^poppin proxy: info: end=backend-closed user=alice rip=127\\.0\\.0\\.5 backend=127\\.0\\.0\\.2:${backend.port} from_client=20 to_client=\\d+ seconds=`));
    expect(proxy.log()).not.toContain("alice pw");
  });

  test("a client that closes its side after QUIT still gets every answer", async () => {
    const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER bob\r\nPASS bob pw\r\nSTAT\r\nQUIT\r\n", 15_000, true);
    expect(out).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
  });

  // The relay passes the client's end of input on to the backend and ends when the backend
  // closes: the answers and the close come at once, not after the relay's 5 s grace period.
  // (2 s: far above the tens of milliseconds this takes, far below the grace period.)
  test("a client that closes its side after the login gets the answers and the close promptly, with or without QUIT", async () => {
    const port = proxy.port;
    await expectPromptHalfClose(port);
  });

  test("a wrong password is [AUTH] from popup (the backend refused), and the client may retry", async () => {
    const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER bob\r\nPASS guess\r\nUSER bob\r\nPASS bob pw\r\nSTAT\r\nQUIT\r\n");
    expect(out).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n-ERR \[AUTH\] authorization failed\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK 1 \d+\r\n\+OK/);
    await waitForLog(proxy.log, "backend refused the login user=bob");
    expect(proxy.log()).toMatch(/poppin proxy: warning: backend refused the login user=bob rip=127\.0\.0\.5 backend=127\.0\.0\.2:\d+ reply=-ERR%20\[AUTH\]%20authorization%20failed/);
    expect(proxy.log()).not.toContain("guess");
  });

  test("a login with no route is refused like a wrong password; odd bytes in the name are escaped in the log", async () => {
    const only = await startProxy("127.0.0.1", 0, routesCdb(`alice:127.0.0.2:${backend.port}\n`), { env: QUICK });
    try {
      const out = await talk("127.0.0.5", "127.0.0.1", only.port, "USER mal lory%\r\nPASS x\r\nQUIT\r\n");
      expect(out).toContain("-ERR [AUTH] authorization failed\r\n");
      await waitForLog(only.log, "no route");
      expect(only.log()).toContain("poppin proxy: warning: no route user=mal%20lory%25 rip=127.0.0.5\n");
    } finally {
      await only.stop();
    }
  });
});

describe("bounds", () => {
  test("a relayed session where nothing moves for POPPIN_TIMEOUT is closed, and logged as end=timeout", async () => {
    const users = makeUsers({ erin: "erin pw" }, message);
    const backend = await startBackend("127.0.0.2", 0, users, QUICK);
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${backend.port}\n`), { env: { ...QUICK, POPPIN_TIMEOUT: "1" } });
    try {
      const started = Date.now();
      const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER erin\r\nPASS erin pw\r\n", 10_000);
      expect(out).toBe("+OK \r\n+OK \r\n+OK \r\n");
      expect(Date.now() - started).toBeLessThan(5000);
      await waitForLog(proxy.log, "end=timeout");
      expect(proxy.log()).toMatch(/poppin proxy: info: end=timeout user=erin rip=127\.0\.0\.5 backend=127\.0\.0\.2:\d+ from_client=0 to_client=0/);
    } finally {
      await proxy.stop();
      await backend.stop();
    }
  });

  test("a client that goes away after DELE without QUIT deletes nothing at the backend", async () => {
    const users = makeUsers({ frank: "frank pw" }, message);
    const backend = await startBackend("127.0.0.2", 0, users, QUICK);
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${backend.port}\n`), { env: QUICK });
    try {
      const sock = net.connect({ host: "127.0.0.1", port: proxy.port, localAddress: "127.0.0.5" });
      let text = "";
      sock.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (/\+OK[^\n]*\n\+OK[^\n]*\n\+OK[^\n]*\n\+OK[^\n]*\n/.test(text)) sock.destroy(); // DELE answered: gone
      });
      sock.on("error", () => {});
      sock.write("USER frank\r\nPASS frank pw\r\nDELE 1\r\n");
      await waitForLog(backend.log, "qmail-pop3d: info: end=");
      expect(text).toMatch(/\+OK[^\n]*\n$/);
      expect(backend.log()).toMatch(/qmail-pop3d: info: end=(eof|closed)\S* user=frank rip=127\.0\.0\.5 messages=1 .*deleted=0/);
      const maildir = join(users.homes.frank!, "Maildir");
      expect(readdirSync(join(maildir, "cur")).length + readdirSync(join(maildir, "new")).length).toBe(1);
      await waitForLog(proxy.log, "poppin proxy: info:");
      expect(proxy.log()).toMatch(/poppin proxy: info: end=client-(closed|error) user=frank/);
    } finally {
      await proxy.stop();
      await backend.stop();
    }
  });

  test("a backend answer longer than 1024 octets is no login: [SYS/TEMP] at once, nothing of it reaches the client", async () => {
    const server = net.createServer((sock) => {
      sock.on("error", () => {});
      sock.write(`+OK ${"x".repeat(5000)}`); // no end of line
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.3", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.3:${port}\n`), { env: QUICK });
    try {
      const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER x\r\nPASS y\r\nQUIT\r\n");
      expect(out).toBe("+OK \r\n+OK \r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n+OK \r\n");
      await waitForLog(proxy.log, "backend unavailable");
      expect(proxy.log()).toContain("why=answer%20longer%20than%201024%20octets");
    } finally {
      await proxy.stop();
      server.close();
    }
  });
});

describe("proxy and its backend's wire", () => {
  test("USER/PASS or AUTH PLAIN as the client logged in, after a PROXY v2 header with the client's and the proxy's address", async () => {
    const fake = await fakeBackend();
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.3:${fake.port}\n`), { env: QUICK });
    try {
      const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, "USER carol\r\nPASS pw 1\r\nQUIT\r\n");
      expect(out).toBe("+OK \r\n+OK \r\n+OK \r\n+OK bye\r\n");
      const got = fake.received();
      const header = parseProxyHeader(got);
      expect(header).toMatchObject({ kind: "done", addresses: { sourceIp: "127.0.0.5", destinationIp: "127.0.0.1", destinationPort: proxy.port } });
      const length = (header as { length: number }).length;
      expect(got.subarray(length).toString("latin1")).toBe("USER carol\r\nPASS pw 1\r\nQUIT\r\n");
      const plain = Buffer.from("\0dave\0pw 2").toString("base64");
      const before = fake.received().length;
      const out2 = await talk("127.0.0.6", "127.0.0.1", proxy.port, `AUTH PLAIN ${plain}\r\nQUIT\r\n`);
      expect(out2).toBe("+OK \r\n+OK \r\n+OK bye\r\n");
      const second = fake.received().subarray(before);
      const h2 = parseProxyHeader(second);
      expect(h2).toMatchObject({ kind: "done", addresses: { sourceIp: "127.0.0.6" } });
      expect(second.subarray((h2 as { length: number }).length).toString("latin1")).toBe(`AUTH PLAIN ${Buffer.from("\0dave\0pw 2").toString("base64")}\r\nQUIT\r\n`);
    } finally {
      await proxy.stop();
      fake.close();
    }
  });

  test("an AUTH LOGIN login (sasl-login) is repeated at the backend as AUTH PLAIN, which every poppin backend takes", async () => {
    const fake = await fakeBackend();
    const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.3:${fake.port}\n`), { env: QUICK, popupArgs: ["--sasl-login"] });
    try {
      const b64 = (t: string) => Buffer.from(t).toString("base64");
      const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, `AUTH LOGIN ${b64("erin")}\r\n${b64("pw 3")}\r\nQUIT\r\n`);
      expect(out).toBe("+OK \r\n+ UGFzc3dvcmQ6\r\n+OK \r\n+OK bye\r\n");
      const got = fake.received();
      const header = parseProxyHeader(got);
      expect(got.subarray((header as { length: number }).length).toString("latin1")).toBe(`AUTH PLAIN ${b64("\0erin\0pw 3")}\r\nQUIT\r\n`);
    } finally {
      await proxy.stop();
      fake.close();
    }
  });

  test("a backend that is down or never answers gives -ERR [SYS/TEMP] (exit 111), within the backend timeout", async () => {
    const silent = await fakeBackend(true);
    const down = routesCdb(`alice:127.0.0.4:1\n*:127.0.0.3:${silent.port}\n`);
    const proxy = await startProxy("127.0.0.1", 0, down, { env: { ...QUICK, POPPIN_BACKEND_TIMEOUT: "1" } });
    try {
      for (const user of ["alice", "bob"]) {
        const started = Date.now();
        const out = await talk("127.0.0.5", "127.0.0.1", proxy.port, `USER ${user}\r\nPASS pw\r\nQUIT\r\n`);
        expect(out).toBe("+OK \r\n+OK \r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n+OK \r\n");
        expect(Date.now() - started).toBeLessThan(4000);
      }
      await waitForLog(proxy.log, "no%20answer%20within%201%20s");
      expect(proxy.log()).toMatch(/backend unavailable user=alice rip=127\.0\.0\.5 backend=127\.0\.0\.4:1 why=unable%20to%20connect:%20connection%20refused/);
      expect(proxy.log()).toMatch(/backend unavailable user=bob rip=127\.0\.0\.5 backend=127\.0\.0\.3:\d+ why=no%20answer%20within%201%20s/);
      expect(proxy.log()).toContain("proxy%20exit%20111");
    } finally {
      await proxy.stop();
      silent.close();
    }
  });
});

/**
 * The proxy's login at a backend, in-process: what it sends (USER/PASS or AUTH PLAIN, encoded
 * right for every length) and that no buffer it made for the login still holds the password
 * once the login is over.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { loginAtBackend, type LoginMechanism } from "../../mod/proxy/backend_login.ts";
import type { BackendConnection } from "../../mod/proxy/backend_socket.ts";
import { encodeProxyV2 } from "../../mod/serve/proxy_protocol.ts";

/** A backend that records each connection's input as latin1 text and says +OK to every line. */
async function okBackend(): Promise<{ port: number; received: string[]; close(): void }> {
  const received: string[] = [];
  const server = net.createServer((sock) => {
    const index = received.push("") - 1;
    sock.on("error", () => {});
    sock.write("+OK hello\r\n");
    sock.on("data", (chunk: Buffer) => {
      received[index] += chunk.toString("latin1");
      const lines = received[index]!.split("\r\n").length - 1;
      sock.write("+OK \r\n".repeat(Math.max(0, lines - (sock as { answered?: number }).answered! || lines)));
      (sock as { answered?: number }).answered = lines;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.4", resolve));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => server.close() };
}

describe("loginAtBackend", () => {
  const closers: (() => void)[] = [];
  afterAll(() => closers.forEach((c) => c()));

  test("AUTH PLAIN is the client's message in base64 for every length; no buffer made for the login keeps the password", async () => {
    const backend = await okBackend();
    closers.push(backend.close);
    const made: Uint8Array[] = [];
    const realConcat = Buffer.concat;
    const realFrom = Buffer.from;
    const spy = (b: Buffer) => (made.push(b), b);
    Buffer.concat = ((...args: Parameters<typeof Buffer.concat>) => spy(realConcat(...args))) as typeof Buffer.concat;
    Buffer.from = ((...args: unknown[]) => spy((realFrom as (...a: unknown[]) => Buffer)(...args))) as typeof Buffer.from;
    const cases: [string, string, LoginMechanism][] = [
      ["joe", "Secret-pw-1", "plain"],
      ["joe", "Secret-pw-12", "plain"],
      ["joe", "Secret-pw-123", "plain"],
      ["ann", "Secret-pw-4", "user"],
      ["bea", "Secret\r\npw-5", "user"], // PASS cannot carry CR LF: AUTH PLAIN
    ];
    const sockets: BackendConnection[] = [];
    try {
      for (const [user, password, mechanism] of cases) {
        const pw = new TextEncoder().encode(password);
        const result = await loginAtBackend({
          backend: { host: "127.0.0.4", port: backend.port },
          header: encodeProxyV2({ sourceIp: "127.0.0.5", sourcePort: 1000, destinationIp: "127.0.0.1", destinationPort: 110 }),
          user: new TextEncoder().encode(user), password: pw, mechanism, timeoutMs: 5000,
        });
        expect(result.kind).toBe("ok");
        if (result.kind === "ok") sockets.push(result.socket);
        pw.fill(0); // the caller's copy
      }
      await Bun.sleep(100); // the wire copy is wiped once the socket has sent it
    } finally {
      Buffer.concat = realConcat;
      Buffer.from = realFrom;
      for (const s of sockets) s.destroy();
    }
    const texts = backend.received.map((r) => r.slice(r.indexOf("\r\n", 16) >= 0 ? r.search(/(USER|AUTH) /) : 0));
    const b64 = (u: string, p: string) => realFrom(`\0${u}\0${p}`, "latin1").toString("base64");
    expect(texts).toEqual([
      `AUTH PLAIN ${b64("joe", "Secret-pw-1")}\r\n`,
      `AUTH PLAIN ${b64("joe", "Secret-pw-12")}\r\n`,
      `AUTH PLAIN ${b64("joe", "Secret-pw-123")}\r\n`,
      "USER ann\r\nPASS Secret-pw-4\r\n",
      `AUTH PLAIN ${b64("bea", "Secret\r\npw-5")}\r\n`,
    ]);
    expect(made.length).toBeGreaterThan(0);
    for (const buffer of made) {
      const text = realFrom(buffer.buffer, buffer.byteOffset, buffer.byteLength).toString("latin1");
      expect(text).not.toContain("Secret");
      for (const [u, p] of cases) expect(text).not.toContain(b64(u, p));
    }
  });
});

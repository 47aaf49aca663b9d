/**
 * The proxy's backend connection (Bun's own socket) on its own: what comes between the login
 * and the relay is kept in order, a write the kernel does not take at once is held and sent
 * before the FIN, and the caller hears when to feed it again.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { ConnectFailed, connectPlain, type BackendHandlers } from "../../mod/proxy/backend_socket.ts";

/** A server on 127.0.0.4 that runs `onConnection` for each connection. */
async function server(onConnection: (sock: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on("error", () => {});
    onConnection(sock);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.4", resolve));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

function recorder(): { handlers: BackendHandlers; events: string[]; octets: () => number; ended: Promise<void>; drained: () => number } {
  const events: string[] = [];
  let octets = 0;
  let drains = 0;
  const ended = Promise.withResolvers<void>();
  return {
    events,
    octets: () => octets,
    drained: () => drains,
    ended: ended.promise,
    handlers: {
      data: (chunk) => {
        octets += chunk.length;
        events.push(`data ${Buffer.from(chunk).toString("latin1")}`);
      },
      drain: () => void drains++,
      end: () => {
        events.push("end");
        ended.resolve();
      },
      close: (error) => {
        events.push(`close${error === undefined ? "" : " error"}`);
        ended.resolve();
      },
    },
  };
}

describe("backend connection on Bun's socket", () => {
  const closers: (() => void)[] = [];
  afterAll(() => closers.forEach((c) => c()));

  test("what comes while nobody listens (between the login and the relay) is given in order on attach, then the FIN", async () => {
    const srv = await server((sock) => {
      sock.write("+OK one\r\n");
      setTimeout(() => sock.write("+OK two\r\n"), 50);
      setTimeout(() => sock.end("+OK three\r\n"), 100);
    });
    closers.push(srv.close);
    const conn = await connectPlain("127.0.0.4", srv.port, 5000);
    expect(conn.fd).toBeGreaterThan(2);
    await Bun.sleep(300); // everything, the FIN included, arrives with no handlers attached
    expect(conn.ended).toBe(true);
    const r = recorder();
    conn.attach(r.handlers);
    expect(r.events.join("|").replaceAll("\r\n", "")).toBe("data +OK one|data +OK two|data +OK three|end");
    conn.destroy();
  });

  test("a write the kernel does not take at once is held, sent in order, and the FIN follows it; drain and the write's callback say when", async () => {
    let received = 0;
    let sawEnd = false;
    const gotAll = Promise.withResolvers<void>();
    let peer: net.Socket | undefined;
    const srv = await server((sock) => {
      peer = sock;
      sock.pause(); // reads nothing until told
      sock.on("data", (chunk: Buffer) => void (received += chunk.length));
      sock.on("end", () => {
        sawEnd = true;
        gotAll.resolve();
      });
    });
    closers.push(srv.close);
    const conn = await connectPlain("127.0.0.4", srv.port, 5000);
    const r = recorder();
    conn.attach(r.handlers);
    const big = new Uint8Array(32 * 1024 * 1024).fill(0x41);
    let sent = false;
    expect(conn.send(big, () => void (sent = true))).toBe(false); // more than the socket buffers hold
    expect(conn.send(new TextEncoder().encode("tail"))).toBe(false); // queued behind it
    conn.shutdown(); // the FIN waits for what is held
    await Bun.sleep(200);
    expect(sent).toBe(false);
    expect(sawEnd).toBe(false);
    peer!.resume();
    await gotAll.promise;
    expect(received).toBe(big.length + 4);
    expect(sent).toBe(true);
    expect(r.drained()).toBeGreaterThanOrEqual(1);
    conn.destroy();
  });

  test("a refused connection is ConnectFailed saying why", async () => {
    const srv = await server(() => {});
    const port = srv.port;
    srv.close();
    await Bun.sleep(50);
    const err = await connectPlain("127.0.0.4", port, 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectFailed);
    expect((err as Error).message).toMatch(/^unable to connect: /);
  });
});

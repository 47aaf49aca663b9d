/**
 * fillFromInheritedConnection on real descriptors: a TCP connection's two ends (IPv4 and
 * IPv6), a pipe and a Unix socket (nothing set), and values already in the environment (kept).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fillFromInheritedConnection } from "../../mod/serve/inherited_connection.ts";

interface Pair {
  /** fd of the accepted (server) side, as inetd would hand it to popup. */
  fd: number;
  client: net.Socket;
  close(): void;
}

function fdOf(sock: net.Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("no fd");
  return fd;
}

/** A connection to a server on `listen` from `from`; resolves with the server side's fd. */
function connected(listen: net.ListenOptions, connect: { host?: string; localAddress?: string; path?: string }): Promise<Pair> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((accepted) => {
      resolve({ fd: fdOf(accepted), client, close: () => { accepted.destroy(); client.destroy(); server.close(); } });
    });
    let client: net.Socket;
    server.on("error", reject);
    server.listen(listen, () => {
      const address = server.address();
      client = typeof address === "string" ? net.connect({ path: address }) : net.connect({ host: connect.host, localAddress: connect.localAddress, port: address!.port });
      client.on("error", reject);
    });
  });
}

let tmp: string;
beforeAll(() => (tmp = mkdtempSync(join(tmpdir(), "poppin-inherited-"))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("fillFromInheritedConnection", () => {
  test("an IPv4 connection: tcpserver's five variables, our end and the client's", async () => {
    const c = await connected({ host: "127.0.0.1", port: 0 }, { host: "127.0.0.1", localAddress: "127.0.0.5" });
    try {
      await new Promise((r) => (c.client.remotePort ? r(null) : c.client.once("connect", r)));
      const env: Record<string, string | undefined> = { PATH: "/bin" };
      const set = fillFromInheritedConnection(env, c.fd);
      expect(env).toEqual({
        PATH: "/bin",
        PROTO: "TCP",
        TCPLOCALIP: "127.0.0.1",
        TCPLOCALPORT: String(c.client.remotePort),
        TCPREMOTEIP: "127.0.0.5",
        TCPREMOTEPORT: String(c.client.localPort),
      });
      expect(set.sort()).toEqual(["PROTO", "TCPLOCALIP", "TCPLOCALPORT", "TCPREMOTEIP", "TCPREMOTEPORT"]);
    } finally {
      c.close();
    }
  });

  test("IPv6 ::1: PROTO=TCP6 and the TCP6 variables too", async () => {
    const c = await connected({ host: "::1", port: 0 }, { host: "::1" });
    try {
      await new Promise((r) => (c.client.remotePort ? r(null) : c.client.once("connect", r)));
      const env: Record<string, string | undefined> = {};
      fillFromInheritedConnection(env, c.fd);
      expect(env.PROTO).toBe("TCP6");
      expect(env.TCPREMOTEIP).toBe("::1");
      expect(env.TCP6REMOTEIP).toBe("::1");
      expect(env.TCP6REMOTEPORT).toBe(String(c.client.localPort));
      expect(env.TCP6LOCALIP).toBe("::1");
      expect(env.TCPLOCALPORT).toBe(String(c.client.remotePort));
    } finally {
      c.close();
    }
  });

  test("TCPREMOTEIP set: nothing changes; another variable set: kept, the rest filled", async () => {
    const c = await connected({ host: "127.0.0.1", port: 0 }, { host: "127.0.0.1" });
    try {
      await new Promise((r) => (c.client.remotePort ? r(null) : c.client.once("connect", r)));
      const served = { TCPREMOTEIP: "192.0.2.9" };
      expect(fillFromInheritedConnection(served, c.fd)).toEqual([]);
      expect(served).toEqual({ TCPREMOTEIP: "192.0.2.9" });
      const partly: Record<string, string | undefined> = { TCPLOCALPORT: "110" };
      fillFromInheritedConnection(partly, c.fd);
      expect(partly.TCPLOCALPORT).toBe("110");
      expect(partly.TCPREMOTEIP).toBe("127.0.0.1");
    } finally {
      c.close();
    }
  });

  test("a pipe, a file, a Unix socket and a closed descriptor set nothing", async () => {
    const fifo = join(tmp, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const pipe = openSync(fifo, "r+"); // a pipe, as when a test pipes popup's stdin
    const file = openSync("/dev/null", "r");
    const unix = await connected({ path: join(tmp, "sock") }, { path: join(tmp, "sock") });
    try {
      const env: Record<string, string | undefined> = {};
      expect(fillFromInheritedConnection(env, pipe)).toEqual([]);
      expect(fillFromInheritedConnection(env, file)).toEqual([]);
      expect(fillFromInheritedConnection(env, unix.fd)).toEqual([]);
      expect(fillFromInheritedConnection(env, 987654)).toEqual([]);
      expect(env).toEqual({});
    } finally {
      unix.close();
      closeSync(pipe);
      closeSync(file);
    }
  });
});

/**
 * A wrong password through the proxy tier (classic and --inline) is answered after one failure
 * delay, not two: the backend's popup sleeps its delay before its -ERR, and the proxy's popup
 * counts that time toward its own. Going through the proxy never shortens the delay: a backend
 * with none still gets the proxy's whole delay, and every connection waits it again.
 * The delays are seconds long so that the bounds below hold on a loaded machine: two delays
 * (the old behaviour) take at least 4 s, one takes 2 s and some scheduling.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import type { PortServer } from "../helpers.ts";
import { makeUsers, routesCdb, startBackend, startProxy, type Users } from "./topology.ts";

const DELAY = { POPPIN_AUTH_FAILURE_DELAY: "2" };

/** Logs in as `user` with a wrong password; how long from PASS to the answer, and the answer. */
function wrongPassword(port: number, user: string): Promise<{ ms: number; reply: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buffer = "";
    let stage = 0;
    let sentAt = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within 20 s (stage ${stage})`));
    }, 20_000);
    sock.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (stage === 0) sock.write(`USER ${user}\r\n`);
        else if (stage === 1) {
          sentAt = performance.now();
          sock.write("PASS not the password\r\n");
        } else if (stage === 2) {
          clearTimeout(timer);
          const ms = performance.now() - sentAt;
          sock.end("QUIT\r\n");
          resolve({ ms, reply: line });
        }
        stage++;
      }
    });
    sock.on("error", reject);
  });
}

describe("one failure delay through the proxy", () => {
  let users: Users;
  let slowBackend: PortServer;
  let quickBackend: PortServer;
  const servers: PortServer[] = [];
  beforeAll(async () => {
    users = makeUsers({ alice: "alice pw" }, () => []);
    slowBackend = await startBackend("127.0.0.2", 0, users, DELAY);
    quickBackend = await startBackend("127.0.0.3", 0, users, { POPPIN_AUTH_FAILURE_DELAY: "0" });
  });
  afterAll(async () => {
    for (const s of [...servers, slowBackend, quickBackend]) await s?.stop();
  });

  for (const inline of [false, true]) {
    const host = inline ? "serve --inline" : "the classic chain";
    test(`${host}: a backend that served its 2 s delay is relayed without a second one`, async () => {
      const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${slowBackend.port}\n`), { inline, env: DELAY });
      servers.push(proxy);
      const r = await wrongPassword(proxy.port, "alice");
      expect(r.reply).toBe("-ERR [AUTH] authorization failed");
      expect(r.ms).toBeGreaterThanOrEqual(1_950);
      expect(r.ms).toBeLessThan(3_700); // two delays would be 4 s or more
    }, 30_000);

    test(`${host}: a backend with no delay still gets the proxy's whole delay, on every connection`, async () => {
      const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.3:${quickBackend.port}\n`), { inline, env: DELAY });
      servers.push(proxy);
      for (let i = 0; i < 2; i++) {
        const r = await wrongPassword(proxy.port, "alice");
        expect(r.reply).toBe("-ERR [AUTH] authorization failed");
        expect(r.ms).toBeGreaterThanOrEqual(1_950);
      }
    }, 30_000);
  }
});

/**
 * A client that stops reading in the middle of a RETR is dropped by the session's write
 * timeout (qmail's timeoutwrite: POPPIN_TIMEOUT without progress), in every host. The
 * connection a session process inherits from tcpserver or serve is a blocking socket: a
 * write(2) of a large piece of the message waits there for the client for as long as it
 * takes, out of reach of any timeout, and only the session's watchdog (timeout + 10 s) ended
 * it, killed by SIGALRM. The same wait ended a slow but live download that needed more than
 * that for one piece. Each write now takes what the kernel accepts at once and polls for the
 * rest within the timeout, telling the watchdog of every piece the client took.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { AccountPool, MATRIX, PASSWORD, gate } from "./modes.ts";

const pool = new AccountPool("stalled-download");
afterAll(() => pool.close());
const limited = gate(3, pool);

/** Larger than what the kernel's buffers of a loopback connection hold (tcp_rmem + tcp_wmem) and the session's own queue. */
const MESSAGE_OCTETS = 48 * 1024 * 1024;
const TIMEOUT_SECONDS = 2;

function bigMessage(): Uint8Array {
  const line = Buffer.from(`${"x".repeat(78)}\r\n`, "latin1");
  const body = Buffer.alloc(MESSAGE_OCTETS);
  for (let at = 0; at < body.length; at += line.length) line.copy(body, at);
  return Buffer.concat([Buffer.from("Subject: big\r\n\r\n", "latin1"), body]);
}

/**
 * Logs in, sends RETR 1, reads the first part of the answer and then nothing more; resolves
 * once the server's log has the session's end line.
 */
async function stallMidRetr(port: number, login: string, log: () => string): Promise<void> {
  const sock = net.connect({ host: "127.0.0.1", port });
  let seen = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no RETR answer; got ${JSON.stringify(seen.slice(0, 200))}`)), 15_000);
    const steps = [`USER ${login}\r\n`, `PASS ${PASSWORD}\r\n`, "RETR 1\r\n"];
    let lines = 0;
    sock.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1", 0, Math.min(chunk.length, 200));
      if (lines === 3) {
        // The first of the message came: read nothing more.
        clearTimeout(timer);
        sock.pause();
        resolve();
        return;
      }
      const count = seen.split("\r\n").length - 1;
      while (lines < Math.min(count, 3)) sock.write(steps[lines++]!);
    });
    sock.on("error", reject);
  });
  const deadline = Date.now() + 40_000;
  while (!/end \d+ (status|signal)/.test(log()) && Date.now() < deadline) await Bun.sleep(100);
  sock.destroy();
}

describe("a client that stops reading mid-RETR", () => {
  for (const combo of MATRIX) {
    test(`${combo.name}: is dropped by the write timeout, not killed by the watchdog`, () =>
      limited(async () => {
        const server = await pool.start(combo, { env: { POPPIN_TIMEOUT: String(TIMEOUT_SECONDS) } });
        const acct = pool.account(combo.kind, [bigMessage()]);
        await stallMidRetr(server.port, acct.login, () => server.log());
        const log = server.log();
        expect(log).toMatch(/end \d+ (status|signal)/);
        expect(log).not.toContain("SIGALRM");
        expect(log).not.toMatch(/end \d+ (signal|status 14$)/m); // SIGALRM
      }), 60_000);
  }
});

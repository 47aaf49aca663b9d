/**
 * A cancelled AUTH (the client answers "*", RFC 5034 section 4) is a login attempt that did not
 * succeed: it counts toward the session's limit of failed logins (MAX_AUTH_FAILURES) in every
 * host, so a client cannot loop AUTH / "*" for ever; after the limit the connection closes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { MAX_AUTH_FAILURES } from "../../mod/pop3/limits.ts";
import { AccountPool, MATRIX, gate } from "./modes.ts";

const pool = new AccountPool("auth-cancel");
afterAll(() => pool.close());
const limited = gate(6, pool);

/**
 * Plays `steps` one at a time: each line sent after the previous answer came (a "+ " challenge,
 * an -ERR or +OK line); returns the answers and whether the server closed the connection.
 */
function converse(port: number, steps: string[], timeoutMs = 15_000): Promise<{ answers: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    let buffer = "";
    let next = 0;
    const sock = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end within ${timeoutMs} ms; answers: ${JSON.stringify(answers)}`));
    }, timeoutMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ answers, closed });
    };
    sock.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        answers.push(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (next < steps.length) sock.write(`${steps[next++]}\r\n`);
        else finish(false);
      }
    });
    sock.on("end", () => finish(true));
    sock.on("error", () => finish(true));
  });
}

describe("a cancelled AUTH counts as a failed login attempt", () => {
  for (const combo of MATRIX) {
    test(`${combo.name}: AUTH PLAIN / * ${MAX_AUTH_FAILURES} times closes the connection; the same session's failed passwords count with them`, () =>
      limited(async () => {
        const server = await pool.shared(combo);
        const loop = Array.from({ length: MAX_AUTH_FAILURES + 1 }, () => ["AUTH PLAIN", "*"]).flat();
        const looped = await converse(server.port, loop);
        // greeting, then "+ " and the -ERR for each cancel; the last allowed one closes the connection.
        expect(looped.answers.slice(1)).toEqual(Array.from({ length: MAX_AUTH_FAILURES }, () => ["+ ", "-ERR [AUTH] authentication cancelled"]).flat());
        expect(looped.closed).toBe(true);
        // The initial-response form ("AUTH PLAIN *") and a failed password share the one count.
        const acct = pool.account(combo.kind);
        const mixed = ["USER " + acct.login, "PASS wrong", "AUTH PLAIN *", "USER " + acct.login, "PASS wrong", "AUTH PLAIN", "*", "AUTH PLAIN *", "NOOP"];
        const m = await converse(server.port, mixed);
        expect(m.answers.slice(1)).toEqual([
          "+OK ", "-ERR [AUTH] authorization failed",
          "-ERR [AUTH] authentication cancelled",
          "+OK ", "-ERR [AUTH] authorization failed",
          "+ ", "-ERR [AUTH] authentication cancelled",
          "-ERR [AUTH] authentication cancelled",
        ]);
        expect(m.closed).toBe(true);
      }));
  }
});

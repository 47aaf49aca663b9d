/**
 * popup's one-process chain arms the session's watchdog when it enters the user's home. When
 * that fails (a home that is gone), the login fails with [SYS/TEMP] and popup's login loop goes
 * on, as it does after checkpassword's exit 111: the watchdog must not go on with it, or it
 * ends a live session in the AUTHORIZATION state timeout + 10 s later, killed by SIGALRM. The
 * other hosts run the change to the home in a process that ends with the failure.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import net from "node:net";
import { AccountPool, MATRIX, PASSWORD } from "./modes.ts";

const pool = new AccountPool("watchdog-failed-home");
afterAll(() => pool.close());

/** Logs in (answered -ERR), then sends NOOP every half second for `ms`, then QUIT; every answer and how the connection ended. */
function keepAlive(port: number, login: string, ms: number): Promise<{ answers: string[]; reset: boolean; quitSent: boolean }> {
  return new Promise((resolve) => {
    const answers: string[] = [];
    let buffer = "";
    let reset = false;
    let quitSent = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        answers.push(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (answers.length === 1) sock.write(`USER ${login}\r\nPASS ${PASSWORD}\r\n`);
        if (answers.length === 3) {
          const until = Date.now() + ms;
          timer = setInterval(() => {
            if (Date.now() < until) return void sock.write("NOOP\r\n");
            clearInterval(timer);
            sock.write("QUIT\r\n");
            quitSent = true;
          }, 500);
        }
      }
    });
    sock.on("error", () => {
      reset = true;
    });
    sock.on("close", () => {
      clearInterval(timer);
      resolve({ answers, reset, quitSent });
    });
  });
}

/** Long enough a read timeout that a NOOP every half second never misses it on a loaded machine. */
const TIMEOUT_SECONDS = 3;

describe("a failed change to the home in popup's one-process chain", () => {
  const combos = MATRIX.filter((c) => c.mode === "classic");
  test(`${combos.map((c) => c.name).join(", ")}: the session goes on past timeout + 10 s, then QUIT is answered`, () =>
    Promise.all(combos.map(async (combo) => {
      const server = await pool.start(combo, { env: { POPPIN_TIMEOUT: String(TIMEOUT_SECONDS) } });
      const acct = pool.account(combo.kind);
      rmSync(acct.home, { recursive: true, force: true });
      const { answers, reset, quitSent } = await keepAlive(server.port, acct.login, (TIMEOUT_SECONDS + 11) * 1000);
      expect(quitSent).toBe(true); // the connection was still there past timeout + 10 s
      expect(answers[2]).toStartWith("-ERR [SYS/TEMP]");
      expect(answers.at(-1)).toBe("+OK ");
      expect(answers.slice(3, -1).every((a) => a === "+OK ")).toBe(true);
      expect(reset).toBe(false);
      expect(server.log()).not.toMatch(/status 14$/m);
    })), 60_000);
});

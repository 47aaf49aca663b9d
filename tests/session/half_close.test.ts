/**
 * A client that sends its commands and then closes its sending side (shutdown(SHUT_WR), as
 * `nc -N`, a shell script or a monitoring probe does) still gets every answer, in every
 * mode, as from qmail-popup and qmail-pop3d: the end of the client's input ends the session
 * after the commands already sent, never the answers to them.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { virtualSetup, withoutTimestamp, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "./modes.ts";

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

/** Sends `input`, half-closes, and reads until the server closes (at most 10 s). */
function sendThenHalfClose(port: number, input: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => sock.end(input));
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no close within 10 s: ${Buffer.concat(chunks)}`)); }, 10_000);
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("close", () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    sock.on("error", () => {});
  });
}

describe.each(MODES)("%s", (mode) => {
  test("commands, then the client's FIN: every answer arrives, QUIT deletes what was marked", async () => {
    const setup = virtualSetup(["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const out = withoutTimestamp(await sendThenHalfClose(server.port, "USER joe\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n"));
    expect(out).toMatch(/^\+OK \r\n\+OK \r\n\+OK \r\n\+OK 2 \d+\r\n\+OK \d+ octets\r\n/);
    expect(out).toContain("first\r\n.\r\n");
    expect(out).toEndWith("+OK message 1 deleted\r\n+OK \r\n");
    expect(readdirSync(join(setup.maildir, "cur")).length).toBe(1);
  });

  test("no QUIT before the FIN: the answers arrive and nothing is deleted", async () => {
    const setup = virtualSetup(["Subject: one\n\nfirst\n"]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const out = withoutTimestamp(await sendThenHalfClose(server.port, "USER joe\r\nPASS secret\r\nDELE 1\r\n"));
    expect(out).toBe("+OK \r\n+OK \r\n+OK \r\n+OK message 1 deleted\r\n");
    const left = readdirSync(join(setup.maildir, "cur")).length + readdirSync(join(setup.maildir, "new")).length;
    expect(left).toBe(1);
  });

  test("a QUIT without its end of line before the FIN (a cut-off connection) is no QUIT: nothing is deleted", async () => {
    // qmail-pop3d runs only whole lines: the end of input in the middle of one ends the session.
    const setup = virtualSetup(["Subject: one\n\nfirst\n"]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    for (const cut of ["QUIT", "QUIT\r", "QUI"]) {
      const out = withoutTimestamp(await sendThenHalfClose(server.port, `USER joe\r\nPASS secret\r\nDELE 1\r\n${cut}`));
      expect(out).toBe("+OK \r\n+OK \r\n+OK \r\n+OK message 1 deleted\r\n");
      const left = readdirSync(join(setup.maildir, "cur")).length + readdirSync(join(setup.maildir, "new")).length;
      expect(left).toBe(1);
    }
  });
});

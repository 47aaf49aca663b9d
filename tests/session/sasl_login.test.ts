/**
 * SASL LOGIN with `sasl-login` (Dovecot's `auth_mechanisms = plain login`), in every mode x
 * kind of user: CAPA's SASL line before and after the login, Dovecot's "Username:" and
 * "Password:" challenges, a wrong password answered as any failed login, the initial-response
 * form, "*" cancelling, and real clients choosing LOGIN (mpop's `auth login`, curl's
 * AUTH=LOGIN). Without the option LOGIN is neither announced nor accepted, as Dovecot's default.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mpopFetch } from "../integration/clients.ts";
import { execAsync } from "../helpers.ts";
import { AccountPool, MATRIX, PASSWORD, gate } from "./modes.ts";

const pool = new AccountPool("sasl-login");
afterAll(() => pool.close());
const limited = gate(6, pool);

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/** Sends each step once the previous answer's first line came; returns every line received. */
function converse(port: number, steps: string[], timeoutMs = 20_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let buffer = "";
    let next = 0;
    let multi = false;
    const sock = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no end: ${JSON.stringify(lines)}`)); }, timeoutMs);
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(lines); };
    sock.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        lines.push(line);
        if (multi) { if (line === ".") multi = false; else continue; }
        else if (line.startsWith("+OK capability")) { multi = true; continue; }
        if (next < steps.length) sock.write(`${steps[next++]}\r\n`);
        else done();
      }
    });
    sock.on("end", done);
    sock.on("error", done);
  });
}

/** The SASL lines' password mechanisms (virtual users' lines go on with SCRAM-SHA-256 ...). */
const saslLine = (lines: string[]) => lines.filter((l) => l.startsWith("SASL")).map((l) => l.split(" ").filter((m) => !m.startsWith("SCRAM-")).join(" "));

describe.each(MATRIX)("$name", (combo) => {
  test.concurrent("sasl-login: LOGIN announced and served as Dovecot serves it; failures and * as for PLAIN", () => limited(async () => {
    const acct = pool.account(combo.kind, ["Subject: m\n\nx\n"]);
    const server = await pool.start(combo, { popupFlags: ["--sasl-login"] });
    const lines = await converse(server.port, [
      "CAPA",
      "AUTH LOGIN", b64(acct.login), b64("wrong"),
      `AUTH LOGIN ${b64(acct.login)}`, "*",
      "AUTH LOGIN", b64(acct.login), b64(PASSWORD),
      "CAPA", "STAT", "QUIT",
    ]);
    expect(saslLine(lines)).toEqual(["SASL PLAIN LOGIN", "SASL PLAIN LOGIN"]);
    const answers = lines.filter((l) => /^(\+|-ERR)/.test(l) && !l.startsWith("+OK capability"));
    expect(answers.slice(1)).toEqual([
      "+ VXNlcm5hbWU6", "+ UGFzc3dvcmQ6", "-ERR [AUTH] authorization failed",
      "+ UGFzc3dvcmQ6", "-ERR [AUTH] authentication cancelled",
      "+ VXNlcm5hbWU6", "+ UGFzc3dvcmQ6", "+OK ",
      "+OK 1 17", "+OK ",
    ]);
  }));

  test.concurrent("without sasl-login: LOGIN is neither announced nor accepted", () => limited(async () => {
    const server = await pool.shared(combo);
    const lines = await converse(server.port, ["CAPA", "AUTH LOGIN", "QUIT"]);
    expect(saslLine(lines)).toEqual(["SASL PLAIN"]);
    expect(lines.slice(-2)).toEqual(["-ERR [AUTH] unsupported mechanism", "+OK "]);
  }));

  test.concurrent("real clients choosing LOGIN: mpop (auth login) and curl (AUTH=LOGIN)", () => limited(async () => {
    const server = await pool.start(combo, { popupFlags: ["--sasl-login"] });
    const acct = pool.account(combo.kind, ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]);
    const work = mkdtempSync(join(tmpdir(), "poppin-sasl-login-"));
    const curl = await execAsync(["curl", "-sS", "-v", "--login-options", "AUTH=LOGIN", "--user", `${acct.login}:${PASSWORD}`, `pop3://127.0.0.1:${server.port}/1`], { timeoutMs: 60_000 });
    expect(curl.err).toMatch(/^> AUTH LOGIN/m);
    expect(curl.out).toBe("Subject: one\r\n\r\nfirst\r\n");
    const got = await mpopFetch({ host: "127.0.0.1", port: server.port, user: acct.login, password: PASSWORD }, work, "login");
    expect(got.map((m) => m.toString("latin1"))).toEqual(["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]);
  }));
});

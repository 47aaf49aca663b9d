/**
 * STLS under every mode x kind of user: with plaintext pipelined after it (the injection of
 * CVE-2011-0411's class, or a client that does not wait) what the client sent before the +OK
 * is dropped and the TLS session starts afresh, in every host alike; inside TLS a refused
 * login leaves the commands pipelined after it to the session, as it does without TLS. The transcript (plain
 * part, then what came inside TLS) is compared byte for byte with the classic chain's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { makeCertificate, stlsWithInjection } from "../tls/harness.ts";
import type { Running } from "../standalone/harness.ts";
import { AccountPool, gate, MATRIX, PASSWORD, blankTimestamp, reference, type Account } from "./modes.ts";

const pool = new AccountPool("matrix-stls");
afterAll(() => pool.close());
const limited = gate(6, pool);
const cert = makeCertificate();
chmodSync(cert.key, 0o600);
const TLS_ENV = { CERTFILE: cert.cert, KEYFILE: cert.key };
const MESSAGES = ["Subject: secret\n\nnot for the attacker\n"];

/** Sends STLS and `injected` in one write, waits for STLS's answer, then does the handshake and sends `inside` over TLS. */
async function stlsSession(port: number, injected: string, inside: string): Promise<string> {
  const r = await stlsWithInjection(port, injected, inside);
  if (r.how === "timeout") throw new Error(`no end within 15 s; plain ${JSON.stringify(r.plain)}, tls ${JSON.stringify(r.secure)}`);
  return `${blankTimestamp(r.plain)}${r.started ? `[tls]${r.secure}` : ""}[${r.how}]`;
}

const CASES = [
  { name: "inside TLS, a wrong password then the right one, pipelined with STAT and QUIT: every command answered", injected: () => "", inside: (a: Account) => `USER ${a.login}\r\nPASS wrong\r\nUSER ${a.login}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`, logsIn: true },
  // More than the TLS relay to checkpassword keeps (256 KiB): the rest waits, and all of it comes back to popup in order.
  { name: "inside TLS, a wrong password then 500 KB of USER pipelined, the right password, STAT and QUIT: every command answered", injected: () => "", inside: (a: Account) => `USER ${a.login}\r\nPASS wrong\r\n${`USER ${a.login}\r\n`.repeat(20000)}PASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n` },
  { name: "200 KB of plaintext pipelined after STLS (more than a host reads ahead) is dropped and the handshake completes", injected: (a: Account) => `USER ${a.login}\r\n${"NOOP\r\n".repeat(33_000)}`, inside: (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n` },
  { name: "plaintext pipelined after STLS is dropped and the handshake completes: an injected USER is not remembered inside TLS", injected: (a: Account) => `USER ${a.login}\r\n`, inside: () => `PASS ${PASSWORD}\r\nQUIT\r\n` },
  { name: "plaintext pipelined after STLS is dropped and the handshake completes: an injected login and DELE do not run; the client logs in inside TLS", injected: (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\nDELE 1\r\nQUIT\r\n`, inside: (a: Account) => `STAT\r\nUSER ${a.login}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n` },
];

describe.each(MATRIX)("$name", (combo) => {
  for (const c of CASES) {
    test.concurrent(c.name, () => limited(async () => {
      const server = await pool.shared(combo, "tls", { env: TLS_ENV });
      const acct = pool.account(combo.kind, MESSAGES);
      const run = async (s: Running, a: Account) => (await stlsSession(s.port, c.injected(a), c.inside(a))).replaceAll(a.login, "LOGIN");
      const text = await run(server, acct);
      expect(text).toContain("+OK Begin TLS negotiation\r\n[tls]");
      expect(text).not.toContain("not for the attacker");
      expect(text).not.toContain("message 1 deleted");
      if ("logsIn" in c) expect(text).toMatch(/\[tls\]\+OK \r\n-ERR \[AUTH\] authorization failed\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK \r\n\[closed\]$/);
      expect(text).toBe(await reference(pool, `${c.name}/${combo.kind}`, run, MESSAGES, { mode: "inline", kind: combo.kind, name: `inline x ${combo.kind}` }, { env: TLS_ENV }));
      await Bun.sleep(100);
      expect((await stlsSession(server.port, "", `USER ${acct.login}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`))).toMatch(/\+OK 1 \d+\r\n/);
    }));
  }
});

/**
 * STLS command injection (CVE-2011-0411's class): a man in the middle appends plaintext
 * commands to the client's STLS, in the same segment, and lets the real TLS handshake go on.
 * Nothing of what came after STLS in plaintext may run inside the TLS session, in the classic
 * chain and in serve --inline: the injected USER is not remembered (PASS gets "USER first"),
 * an injected login does not log in. Every host drops the plaintext and completes the handshake.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { requireTool } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { startMode } from "../session/modes.ts";
import { virtualSetup, type Running } from "../standalone/harness.ts";

const setup = virtualSetup(["Subject: secret\n\nnot for the attacker\n"]);
const cert = makeCertificate();
chmodSync(cert.key, 0o600);
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop(2_000);
});

/** Sends STLS with `injected` in one segment, does the handshake, sends `after` over TLS; prints what came back. */
function injection(port: number, injected: string, after: string): string {
  const script = `
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", ${port})); s.settimeout(5)
g = b""
while not g.endswith(b"\\r\\n"): g += s.recv(1)
s.sendall(b"STLS\\r\\n" + ${JSON.stringify(injected)}.encode())
r = b""
while not r.endswith(b"\\r\\n"): r += s.recv(1)
sys.stdout.write("stls " + r.decode().strip() + "\\n")
try:
    t = ctx.wrap_socket(s)
except (ssl.SSLError, OSError) as e:
    sys.stdout.write("handshake refused\\n"); sys.exit(0)
t.sendall(${JSON.stringify(after)}.encode())
out = b""
try:
    while True:
        d = t.recv(65536)
        if not d: break
        out += d
except (ssl.SSLError, OSError):
    pass
sys.stdout.write("tls " + repr(out.decode("latin1")) + "\\n")
`;
  const p = Bun.spawnSync([requireTool("python3"), "-c", script], { timeout: 20_000 });
  if (p.exitCode !== 0) throw new Error(`python: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

describe.each(["classic", "inline"] as const)("%s", (mode) => {
  test("plaintext injected after STLS is never run inside the TLS session", async () => {
    const s = await startMode(mode, { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0", CERTFILE: cert.cert, KEYFILE: cert.key });
    servers.push(s);
    for (const [injected, after, first] of [
      ["USER joe\r\n", "PASS secret\r\nSTAT\r\nQUIT\r\n", "-ERR USER first\r\n"],
      ["USER joe\r\nPASS secret\r\n", "STAT\r\nRETR 1\r\nQUIT\r\n", "-ERR authorization first\r\n"],
      ["CAPA\r\nUSER joe\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n", "QUIT\r\n", "+OK \r\n"],
    ]) {
      const out = injection(s.port, injected, after);
      expect(out).toStartWith("stls +OK");
      expect(out).toContain("\ntls '"); // the handshake went on: the answers below are checked
      expect(out).not.toContain("not for the attacker");
      expect(out).not.toMatch(/\+OK 1 \d+|capability list|message 1 deleted/);
      if (!out.includes("handshake refused")) {
        // The session inside TLS starts afresh: the first answer is to the first command sent over TLS.
        const answers = (/^tls '(.*)'$/m.exec(out)?.[1] ?? "").replaceAll("\\r", "\r").replaceAll("\\n", "\n");
        expect(answers.startsWith(first), out).toBe(true);
      }
    }
    // The message is still there: nothing was deleted by the injected DELE.
    const check = injection(s.port, "", "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n");
    expect(check).toMatch(/\+OK 1 \d+/);
  }, 30_000);
});

/**
 * STLS sent where a client does not send it: as the answer to a SASL challenge, after a failed
 * PASS, after the login, twice. Each host (the classic chain, its processes, serve --inline)
 * must answer as the others, byte for byte: a line inside an AUTH exchange is the exchange's
 * (a STLS there is an invalid response, never a TLS upgrade half-way through a login); after a
 * failed login the session may still go to TLS and log in there; in the TRANSACTION state STLS
 * is no command; inside TLS a second STLS is refused and the session goes on.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { requireTool } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { MODES, startMode } from "../session/modes.ts";
import { virtualSetup, type Running } from "../standalone/harness.ts";

const setup = virtualSetup(["Subject: one\n\nhello\n"]);
const cert = makeCertificate();
chmodSync(cert.key, 0o600);
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop(2_000);
});

/**
 * Sends `plain` in one write, reads until "+OK Begin TLS negotiation" or the end of the
 * connection; after the +OK does the handshake and sends `secure`, reading until the end.
 * Returns the transcript (greeting timestamps blanked), "<TLS>" where TLS began.
 */
function converse(port: number, plain: string, secure: string): string {
  const script = `
import re, socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", ${port})); s.settimeout(10)
s.sendall(${JSON.stringify(plain)}.encode("latin1"))
got = b""
while b"+OK Begin TLS negotiation\\r\\n" not in got:
    d = s.recv(1)
    if not d: break
    got += d
if got.endswith(b"+OK Begin TLS negotiation\\r\\n"):
    t = ctx.wrap_socket(s)
    got += b"<TLS>"
    t.sendall(${JSON.stringify(secure)}.encode("latin1"))
    try:
        while True:
            d = t.recv(65536)
            if not d: break
            got += d
    except (ssl.SSLError, OSError):
        pass
sys.stdout.write(re.sub(r"<[^>@]*@mail\\.example>", "<>", got.decode("latin1")))
`;
  const p = Bun.spawnSync([requireTool("python3"), "-c", script], { timeout: 30_000 });
  if (p.exitCode !== 0) throw new Error(`python: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

const CASES: { name: string; plain: string; secure: string; check(t: string): void }[] = [
  {
    name: "STLS as the answer to a SASL challenge is an invalid response, not an upgrade; STLS after it works",
    plain: "AUTH PLAIN\r\nSTLS\r\nAUTH SCRAM-SHA-256\r\nSTLS\r\nSTLS\r\n",
    secure: "CAPA\r\nUSER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n",
    check(t) {
      const [plain, secure] = t.split("<TLS>");
      expect(plain!.match(/^\+ \r\n-ERR \[AUTH\] invalid/gm)?.length).toBe(2);
      expect(plain!.match(/Begin TLS/g)?.length).toBe(1);
      expect(secure).not.toContain("STLS\r\n"); // CAPA inside TLS offers no second STLS
      expect(secure).toContain("+OK 1 ");
    },
  },
  {
    name: "a failed PASS, then STLS: the login inside TLS is served",
    plain: "USER joe\r\nPASS wrong\r\nSTLS\r\n",
    secure: "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n",
    check(t) {
      expect(t).toContain("-ERR [AUTH] authorization failed\r\n+OK Begin TLS negotiation\r\n<TLS>");
      expect(t.split("<TLS>")[1]).toContain("+OK 1 ");
    },
  },
  {
    name: "STLS after the login is no command; the session goes on in plain text",
    plain: "USER joe\r\nPASS secret\r\nSTLS\r\nSTAT\r\nQUIT\r\n",
    secure: "",
    check(t) {
      expect(t).not.toContain("<TLS>");
      expect(t).toMatch(/-ERR [^\r]*\r\n\+OK 1 \d+\r\n\+OK [^\r]*\r\n$/);
    },
  },
  {
    name: "a second STLS inside TLS is refused and changes nothing",
    plain: "STLS\r\n",
    secure: "STLS\r\nUSER joe\r\nPASS secret\r\nSTLS\r\nSTAT\r\nQUIT\r\n",
    check(t) {
      const secure = t.split("<TLS>")[1]!;
      expect(secure).toStartWith("-ERR STLS not allowed: TLS is already active\r\n");
      expect(secure).toContain("+OK 1 ");
    },
  },
];

const transcripts = new Map<string, string[]>();

describe.each(MODES)("%s", (mode) => {
  test("STLS at odd moments", async () => {
    const s = await startMode(mode, { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0", CERTFILE: cert.cert, KEYFILE: cert.key });
    servers.push(s);
    const all: string[] = [];
    for (const c of CASES) {
      const t = converse(s.port, c.plain, c.secure);
      try {
        c.check(t);
      } catch (e) {
        throw new Error(`${c.name}: ${JSON.stringify(t)}: ${(e as Error).message}`);
      }
      all.push(t);
    }
    transcripts.set(mode, all);
  }, 60_000);
});

test("every host answers the same, byte for byte", () => {
  const reference = transcripts.get("classic");
  expect(reference).toBeDefined();
  for (const mode of MODES) expect(transcripts.get(mode)).toEqual(reference!);
});

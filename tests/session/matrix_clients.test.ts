/**
 * Real POP3 clients from Debian (python poplib, curl, fetchmail, mpop, getmail6) and TLS
 * (STLS in popup, implicit TLS with serve --tls) under every mode x kind of user: every
 * message downloaded is the one delivered, deletions happen, the password travels only
 * inside TLS where the client asks for it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { execAsync, requireTool, tempDir } from "../helpers.ts";
import { canonical, curlFetch, fetchmailFetch, getmailFetch, mpopFetch, poplibFetch } from "../integration/clients.ts";
import { MAIL_GID, MAIL_UID } from "../standalone/harness.ts";
import { corpus, makeCertificate } from "../tls/harness.ts";
import { AccountPool, gate, MATRIX, PASSWORD, type Account } from "./modes.ts";



for (const tool of ["python3", "curl", "fetchmail", "mpop", "getmail"]) requireTool(tool);
const pool = new AccountPool("matrix-clients");
afterAll(() => pool.close());
const limited = gate(8, pool);
const cert = makeCertificate();
// 0600, the mail uid's: with -u the classic chain's popup runs as that uid and reads it itself
// (--inline reads it before its uid switch; for system users serve and popup stay root).
chmodSync(cert.dir, 0o755);
chmodSync(cert.key, 0o600);
chownSync(cert.key, MAIL_UID, MAIL_GID);
const MESSAGES = corpus();
const want = MESSAGES.map(canonical).sort();
const count = (acct: Account) => ["new", "cur"].reduce((n, sub) => n + readdirSync(join(acct.maildir, sub)).length, 0);

const CLIENTS = {
  poplib: async (port: number, a: Account, work: string) => (await poplibFetch({ host: "127.0.0.1", port, user: a.login, password: PASSWORD }, work)).messages,
  curl: (port: number, a: Account, work: string) => curlFetch({ host: "127.0.0.1", port, user: a.login, password: PASSWORD }, work),
  fetchmail: (port: number, a: Account, work: string) => fetchmailFetch({ host: "127.0.0.1", port, user: a.login, password: PASSWORD }, work),
  mpop: (port: number, a: Account, work: string) => mpopFetch({ host: "127.0.0.1", port, user: a.login, password: PASSWORD }, work),
  getmail6: (port: number, a: Account, work: string) => getmailFetch({ host: "127.0.0.1", port, user: a.login, password: PASSWORD }, work),
};

/** poplib over TLS: STLS after the greeting, or implicit TLS; prints the TLS version and message 1, or the refusal. */
async function poplibTls(port: number, a: Account, how: "stls" | "implicit-tls"): Promise<string> {
  const script = `
import poplib, ssl
ctx = ssl.create_default_context(cafile=${JSON.stringify(cert.cert)})
${how === "stls" ? `p = poplib.POP3("127.0.0.1", ${port}, timeout=15)
print("capa-stls", "STLS" in p.capa())
p.stls(context=ctx)` : `p = poplib.POP3_SSL("127.0.0.1", ${port}, timeout=15, context=ctx)`}
print("tls", p.sock.version())
p.user(${JSON.stringify(a.login)})
try:
    p.pass_(${JSON.stringify(PASSWORD)})
except poplib.error_proto as e:
    print("refused", e.args[0].decode())
    raise SystemExit(0)
print(b"\\n".join(p.retr(1)[1]).decode("latin1"))
p.dele(1)
p.quit()
`;
  const proc = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if ((await proc.exited) !== 0) throw new Error(`poplib over TLS: ${err}`);
  return out;
}

describe.each(MATRIX)("$name", (combo) => {
  for (const [name, fetch] of Object.entries(CLIENTS)) {
    test.concurrent(`${name} downloads every message as delivered and deletes them`, () => limited(async () => {
      const server = await pool.shared(combo);
      const acct = pool.account(combo.kind, MESSAGES);
      const work = tempDir(`client-${name}`);
      const got = await fetch(server.port, acct, work).catch((e: Error) => {
        // What the server saw of this account's sessions, to tell a client's fault from ours.
        const seen = server.log().split("\n").filter((l) => l.includes(`user=${acct.login} `));
        throw new Error(`${e.message}\nserver log for ${acct.login}:\n${seen.join("\n")}`);
      });
      expect(got.map(canonical).sort()).toEqual(want);
      expect(count(acct)).toBe(0);
    }));
  }

  for (const how of ["stls", "implicit-tls"] as const) {
    test.concurrent(`poplib over TLS (${how === "stls" ? "STLS" : "serve --tls"}): certificate verified, login and mail inside TLS`, () => limited(async () => {
      const server = await pool.shared(combo, how, { env: { CERTFILE: cert.cert, KEYFILE: cert.key }, serveFlags: how === "stls" ? [] : ["--tls"] });
      const acct = pool.account(combo.kind, MESSAGES);
      const out = await poplibTls(server.port, acct, how);
      if (how === "stls") expect(out).toContain("capa-stls True\n");
      expect(out).toMatch(/^tls TLSv1\.[23]$/m);
      expect(out).not.toContain("refused");
      expect(out).toContain("To: demo@example.org\nSubject: plain\n\nHello over TLS.\n"); // message 1, as delivered
      expect(count(acct)).toBe(MESSAGES.length - 1);
    }));
  }

  test.concurrent("curl --ssl-reqd over STLS (pop3://) and implicit TLS (pop3s://), verifying the certificate", () => limited(async () => {
    const stls = await pool.shared(combo, "stls", { env: { CERTFILE: cert.cert, KEYFILE: cert.key } });
    const implicit = await pool.shared(combo, "implicit-tls", { env: { CERTFILE: cert.cert, KEYFILE: cert.key }, serveFlags: ["--tls"] });
    const acct = pool.account(combo.kind, MESSAGES);
    for (const [i, url] of [`pop3://localhost:${stls.port}/1`, `pop3s://localhost:${implicit.port}/2`].entries()) {
      const r = await execAsync(["curl", "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", cert.cert, "--user", `${acct.login}:${PASSWORD}`, url]);
      expect(r.err).toBe("");
      expect(canonical(Buffer.from(r.out, "latin1"))).toBe(canonical(MESSAGES[i]!));
    }
    expect(count(acct)).toBe(MESSAGES.length);
  }));
});

/**
 * serve --inline with TLS: popup's STLS (certificate from CERTFILE, read before the uid
 * switch) upgrades the session's socket in serve's process; --tls does the handshake at
 * accept. Python's poplib logs in over both and gets the same mail as in plain.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { POPPIN, requireTool } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "./harness.ts";

const setup = virtualSetup(["Subject: secret mail\n\nover TLS only\n"]);
const cert = makeCertificate();
chmodSync(cert.key, 0o600); // root's only: read before serve drops to the mail uid
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

async function poplib(script: string): Promise<string> {
  const p = Bun.spawn([requireTool("python3"), "-c", script], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  if ((await p.exited) !== 0) throw new Error(`poplib: ${err}`);
  return out;
}

const client = (port: number, how: "stls" | "implicit") => `
import poplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
${how === "stls" ? `p = poplib.POP3("127.0.0.1", ${port}, timeout=10)
print("capa-before", "STLS" in p.capa())
p.stls(context=ctx)` : `p = poplib.POP3_SSL("127.0.0.1", ${port}, timeout=10, context=ctx)`}
print("cipher", p.sock.version())
p.user("joe"); p.pass_("secret")
print(b"\\n".join(p.retr(1)[1]).decode())
p.quit()
`;

test("STLS: offered, negotiated in serve's process, then the login and the mail over TLS", async () => {
  const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key });
  servers.push(s);
  const out = await poplib(client(s.port, "stls"));
  expect(out).toContain("capa-before True");
  expect(out).toMatch(/cipher TLSv1\.[23]/);
  expect(out).toContain("Subject: secret mail\n\nover TLS only");
});

test("--tls: implicit TLS at accept; a plain client is dropped with the handshake's reason", async () => {
  const s = await startServer([POPPIN, "serve", "--inline", "--tls", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key });
  servers.push(s);
  const out = await poplib(client(s.port, "implicit"));
  expect(out).toMatch(/cipher TLSv1\.[23]/);
  expect(out).toContain("over TLS only");
  const plain = await poplib(`
import socket
s = socket.create_connection(("127.0.0.1", ${s.port}), timeout=10)
s.sendall(b"USER joe\\r\\n")
print(repr(s.recv(100)))
`);
  // At most a TLS alert record (type 21), never a POP3 greeting.
  expect(plain.trim()).toMatch(/^b'(\\x15.*)?'$/);
  await Bun.sleep(100);
  expect(s.log()).toMatch(/poppin serve: warning: dropping connection, TLS handshake failed/);
});

test("as root, the user's own pop3d process behind TLS (STLS and --tls): serve keeps TLS and the key, pop3d gets the plaintext on pipes", async () => {
  const plain = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" });
  const implicit = await startServer([POPPIN, "serve", "--inline", "--tls", "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" });
  servers.push(plain, implicit);
  for (const [s, how] of [[plain, "stls"], [implicit, "implicit"]] as const) {
    const out = await poplib(client(s.port, how));
    expect(out).toMatch(/cipher TLSv1\.[23]/);
    expect(out).toContain("Subject: secret mail\n\nover TLS only");
    for (let i = 0; i < 40 && !/end=quit/.test(s.log()); i++) await Bun.sleep(50);
    expect(s.log()).toMatch(/^poppin pop3d: info: end=quit user=joe rip=127\.0\.0\.1 messages=1 retrieved=1 /m);
    expect(s.log()).not.toContain("fatal");
  }
});

/**
 * A client that pipelines RETR over TLS, reads nothing and hangs up: the program behind the
 * TLS relay (serve --tls, popup after STLS, serve --inline --tls with a user process) is
 * blocked writing the message into the relay's pipe. Without TLS its next write to the
 * closed socket fails and the session ends at once; over TLS it must end too, or it holds
 * the mailbox's session lock (the owner's next login gets -ERR [IN-USE]) and a connection
 * slot for the whole write timeout (20 minutes by default).
 */
import { afterAll, expect, test } from "bun:test";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "../standalone/harness.ts";
import { makeCertificate } from "./harness.ts";

// Three messages of 4.6 MB: far more than the kernel's and the relay's buffers hold.
const setup = virtualSetup(Array.from({ length: 3 }, (_, i) => `Subject: ${i}\n\n${`${"y".repeat(76)}\n`.repeat(60000)}`));
const cert = makeCertificate();
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const env = { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" };
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

/** Logs in (after STLS when `stls`), pipelines 50 RETRs, reads nothing, closes after `holdMs`. */
function hangUp(port: number, stls: boolean, holdMs: number) {
  return Bun.spawn(["python3", "-c", `
import socket, ssl, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", ${port}))
if ${stls ? "True" : "False"}:
    s.recv(200); s.sendall(b"STLS\\r\\n"); s.recv(200)
s = ctx.wrap_socket(s)
s.sendall(b"USER joe\\r\\nPASS secret\\r\\n" + b"RETR 1\\r\\n" * 50)
time.sleep(${holdMs / 1000})
s.close()
`], { stdout: "ignore", stderr: "inherit" });
}

/** A polite client's answers to USER, PASS, STAT, QUIT (the same kind of connection). */
function polite(port: number, stls: boolean): Promise<string> {
  return Bun.spawn(["python3", "-c", `
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", ${port}), timeout=10)
if ${stls ? "True" : "False"}:
    s.recv(200); s.sendall(b"STLS\\r\\n"); s.recv(200)
s = ctx.wrap_socket(s)
f = s.makefile("rb")
if not ${stls ? "True" : "False"}: f.readline()
out = b""
for c in (b"USER joe", b"PASS secret", b"STAT", b"QUIT"):
    s.sendall(c + b"\\r\\n"); out += f.readline()
sys.stdout.write(out.decode("latin1"))
`], { stdout: "pipe", stderr: "inherit" }).stdout.text();
}

async function afterHangUp(argv: string[], stls: boolean): Promise<string> {
  const s = await startServer(argv, env);
  servers.push(s);
  await hangUp(s.port, stls, 1500).exited;
  await Bun.sleep(1000);
  const answers = await polite(s.port, stls);
  await s.stop();
  return answers;
}

const expected = /^\+OK \r\n\+OK \r\n\+OK 3 \d+\r\n\+OK \r\n$/;

test("serve --tls: the session ends when the client hangs up mid-RETR; the owner can log in at once", async () => {
  const answers = await afterHangUp([POPPIN, "serve", "--tls", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain], false);
  expect(answers).toMatch(expected); // before: +OK, then -ERR [IN-USE] for 20 minutes
}, 20_000);

test("popup after STLS: the same", async () => {
  const answers = await afterHangUp([POPPIN, "serve", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain], true);
  expect(answers).toMatch(expected);
}, 20_000);

test("serve --inline --tls as root (pop3d runs as the mailbox owner behind serve's relay): the same", async () => {
  const answers = await afterHangUp([POPPIN, "serve", "--inline", "--tls", "-R", "-H", "-1", "127.0.0.1", "0", ...chain], false);
  expect(answers).toMatch(expected);
}, 20_000);

/**
 * serve --inline as root hands a system user's session to a pop3d of that user; whatever
 * the client pipelined after PASS was read by serve already and must reach that pop3d. A
 * client may pipeline a whole window (RFC 2449 section 6.6): every command gets its answer,
 * however much came at once (more than 16 KiB was dropped with a warning, and what the
 * paused socket had read ahead was lost, so the client waited for answers until its timeout).
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { POPPIN, run, startPortServer } from "../helpers.ts";
import { asUser, localUser, removeLocalUsers, sharedBase } from "../security/local_users.ts";
import { makeCertificate } from "../tls/harness.ts";

afterAll(removeLocalUsers);

const base = sharedBase("pipelined");
const user = localUser("ppl", base);
expect(run(["chpasswd"], { stdin: `${user.name}:pipe pw 2\n` }).code).toBe(0);
const maildir = join(user.home, "Maildir");
expect(asUser(user, [POPPIN, "maildirmake", maildir]).code).toBe(0);
expect(asUser(user, ["sh", "-c", `printf 'Subject: hi\\n\\nbody\\n' > ${maildir}/new/1.M1P1.test`]).code).toBe(0);
const cert = makeCertificate();

/**
 * USER, PASS, `n` NOOPs and QUIT in one burst, written while the answers are read; the number
 * of answer lines. One thread does both, over a non-blocking socket: an SSL object must not be
 * used by two threads at once (OpenSSL's rule), and a Python client that sends from a second
 * thread sees, now and then on a loaded machine, its recv() end at once with nothing read,
 * whatever the server does (the same client against a plain Python TLS server does it too).
 */
async function burst(port: number, n: number, stls: boolean): Promise<{ lines: number; last: string }> {
  const out = await Bun.spawn(["python3", "-c", `
import select, socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", ${port}), timeout=30)
f = s.makefile("rb"); f.readline()
if ${stls ? "True" : "False"}:
    s.sendall(b"STLS\\r\\n"); f.readline(); s = ctx.wrap_socket(s)
data = b"USER ${user.name}\\r\\nPASS pipe pw 2\\r\\n" + b"NOOP\\r\\n" * ${n} + b"QUIT\\r\\n"
s.setblocking(False)
AGAIN = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
got = bytearray(); sent = 0; ended = False; deadline = time.time() + 60
try:
    while not ended and time.time() < deadline:
        select.select([s], [s] if sent < len(data) else [], [], 1)
        if sent < len(data):
            try: sent += s.send(data[sent:sent + 16384])
            except AGAIN: pass
        # Everything readable now, including what TLS already decrypted (select does not see that).
        while True:
            try: d = s.recv(65536)
            except AGAIN: break
            if not d:
                ended = True
                break
            got += d
except Exception as e:
    sys.stderr.write("client: %r after %d octets sent, %d received\\n" % (e, sent, len(got)))
sys.stdout.write("%d %s" % (got.count(b"\\r\\n"), bytes(got[-12:]).decode("latin1").replace("\\r\\n", "|")))
`], { stdout: "pipe", stderr: "inherit" }).stdout.text();
  const space = out.indexOf(" ");
  return { lines: Number(out.slice(0, space)), last: out.slice(space + 1) };
}

test("plain and after STLS: 1,000, 4,000, 30,000 and 300,000 pipelined NOOPs after PASS each get their answer", async () => {
  const s = await startPortServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "127.0.0.1", "0", POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"],
    { env: { PATH: "/usr/bin:/bin", CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" } });
  try {
    // 1,000 NOOPs (6 KB) travel in the environment to a mail worker (over STLS with the relay);
    // 4,000 (24 KB) are past the 16 KiB the environment carries; 30,000 (180 KB) past the 64 KiB
    // serve holds unread before login (plus what its paused socket read ahead); of 300,000
    // (1.8 MB) most is still in the kernel at the hand-over and reaches pop3d after the rest.
    const bursts = [1000, 4000, 30000, 300000];
    for (const [n, stls] of [...bursts.map((n) => [n, false] as const), ...bursts.map((n) => [n, true] as const)]) {
      // USER and PASS, n NOOPs, QUIT (the greeting and STLS were read before).
      expect({ n, stls, ...(await burst(s.port, n, stls)) }).toEqual({ n, stls, lines: n + 3, last: "+OK |+OK |" });
    }
    expect(s.log()).not.toContain("pipelined after PASS dropped");
  } finally {
    await s.stop();
  }
}, 100_000);

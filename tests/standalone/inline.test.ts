/**
 * serve --inline end to end: the same bytes as the classic chain, the same log lines,
 * privileges (a planted symlink to a root-only file is never served, in-process and in
 * a user process), foreign programs refused, metrics, status line, graceful SIGTERM.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { POPPIN, applet, run, tempDir } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, connectIdle, startServer, talk, virtualSetup, withoutTimestamp, type Running } from "./harness.ts";

const MESSAGES = [
  "From: a@example.org\nSubject: one\n\nhello\n.dot line\n..two dots\n",
  Buffer.concat([Buffer.from("Subject: 8-bit\r\n\r\ncaf\xe9 \xff\x00 binary\r\nno final newline", "latin1")]),
  "Subject: three\n\n" + "x".repeat(200_000) + "\n",
];
const SESSION = "USER joe\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 3 0\r\nRETR 2\r\nRETR 3\r\nLAST\r\nCAPA\r\nQUIT\r\n";

const setup = virtualSetup(MESSAGES);
const env = { POPPIN_USERDB: setup.userdb };
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];

async function inline(extra: string[] = [], moreEnv: Record<string, string> = {}): Promise<Running> {
  const s = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", ...extra, "127.0.0.1", "0", ...chain], { ...env, ...moreEnv });
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

describe("serve --inline", () => {
  test("answers byte for byte as the classic chain behind poppin serve, and logs the same lines", async () => {
    const ours = await inline(["-u", String(MAIL_UID), "-g", String(MAIL_GID)]);
    const classic = await startServer([POPPIN, "serve", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain], env);
    servers.push(classic);
    const a = await talk(classic.port, SESSION);
    const b = await talk(ours.port, SESSION);
    expect(withoutTimestamp(b)).toBe(withoutTimestamp(a));
    expect(b.toString("latin1")).toContain("+OK 3 ");
    expect(b.includes(Buffer.from("caf\xe9 \xff\x00 binary\r\nno final newline\r\n.\r\n", "latin1"))).toBe(true);
    await Bun.sleep(100);
    const log = ours.log();
    const pid = ours.proc.pid;
    expect(log).toContain(`tcpserver: pid ${pid} from 127.0.0.1\n`);
    expect(log).toMatch(new RegExp(`tcpserver: ok ${pid} [^:]*:127\\.0\\.0\\.1:${ours.port} :127\\.0\\.0\\.1::\\d+\\n`));
    expect(log).toContain(`tcpserver: end ${pid} status 0\n`);
    const endLine = (text: string) => text.split("\n").find((l) => l.startsWith("poppin pop3d: info: end="));
    expect(endLine(log)).toBe(endLine(classic.log()));
    expect(endLine(log)).toMatch(/^poppin pop3d: info: end=quit user=joe rip=127\.0\.0\.1 messages=3 retrieved=4 /);
  });

  test("wrong password: the chain's -ERR and warning, never the password; DELE then QUIT removes", async () => {
    const ours = await inline(["-u", String(MAIL_UID), "-g", String(MAIL_GID)]);
    const bad = (await talk(ours.port, "USER joe\r\nPASS hunter2\r\nQUIT\r\n")).toString("latin1");
    expect(bad).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
    await Bun.sleep(50);
    expect(ours.log()).toContain("poppin popup: warning: authorization failed rip=127.0.0.1 user=joe mech=USER\n");
    expect(ours.log()).not.toContain("hunter2");
    const before = readdirSync(join(setup.maildir, "cur")).length;
    const dele = (await talk(ours.port, "USER joe\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n")).toString("latin1");
    expect(dele).toBe("+OK \r\n+OK \r\n+OK \r\n+OK message 1 deleted\r\n+OK \r\n");
    expect(readdirSync(join(setup.maildir, "cur")).length).toBe(before - 1);
  });

  test("the classic names work too: tcpserver --inline ... qmail-popup NAME checkpassword qmail-pop3d Maildir", async () => {
    const bin = dirname(applet("tcpserver"));
    const s = await startServer([applet("tcpserver"), "--inline", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0",
      "qmail-popup", "mail.example", "checkpassword", "qmail-pop3d", "Maildir"], { ...env, PATH: `${bin}:/usr/bin:/bin` });
    servers.push(s);
    expect((await talk(s.port, "USER joe\r\nPASS wrong\r\nQUIT\r\n")).toString()).toContain("-ERR [AUTH] authorization failed\r\n");
    expect((await talk(s.port, "USER joe\r\nPASS secret\r\nQUIT\r\n")).toString()).toBe("+OK \r\n+OK \r\n+OK \r\n+OK \r\n");
    await Bun.sleep(100);
    expect(s.log()).toContain("qmail-popup: warning: authorization failed rip=127.0.0.1 user=joe mech=USER\n");
    expect(s.log()).toMatch(/qmail-pop3d: info: end=quit user=joe rip=127\.0\.0\.1 /);
  });

  test("anything but poppin's own chain is refused, saying why", () => {
    const r = run([POPPIN, "serve", "--inline", "127.0.0.1", "0", "/bin/cat"], { timeoutMs: 10_000 });
    expect(r.code).toBe(100);
    expect(r.stderr).toBe("poppin serve: fatal: --inline serves only poppin's own chain (popup NAME checkpassword pop3d Maildir): /bin/cat is not poppin's popup (qmail-popup)\n");
    const r2 = run([POPPIN, "serve", "--inline", "127.0.0.1", "0", POPPIN, "popup", "h", "/bin/true", POPPIN, "pop3d", "Maildir"], { timeoutMs: 10_000 });
    expect(r2.code).toBe(100);
    expect(r2.stderr).toContain("/bin/true is not poppin's checkpassword");
  });
});

describe("timeouts", () => {
  test("POPPIN_TIMEOUT: a client that stops reading in the middle of a big RETR is dropped, nothing deleted", async () => {
    const big = virtualSetup(["Subject: big\n\n" + "y".repeat(100).concat("\n").repeat(300_000)]);
    const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
      { POPPIN_USERDB: big.userdb, POPPIN_TIMEOUT: "1" });
    servers.push(s);
    // A client with a tiny receive buffer that reads nothing after its commands (Python: no userland buffering).
    const client = Bun.spawn(["python3", "-c", `
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", ${s.port}))
s.sendall(b"USER joe\\r\\nPASS secret\\r\\nDELE 1\\r\\nRSET\\r\\nRETR 1\\r\\n")
time.sleep(2.5)
`], { stdout: "ignore", stderr: "inherit" });
    await client.exited;
    await Bun.sleep(100);
    expect(s.log()).toMatch(/poppin pop3d: info: end=timeout user=joe rip=127\.0\.0\.1 messages=1 retrieved=0 /);
    expect(readdirSync(join(big.maildir, "cur")).length).toBe(1);
  });
});

describe("output to slow and fast readers", () => {
  test("a reader that keeps taking mail slowly gets every byte, in order, and is not timed out", async () => {
    // Three 2 MB messages to a client with a small receive buffer that reads 32 KB every 10 ms:
    // the kernel's buffer fills, the rest waits in the socket's queue, then direct writes resume.
    const body = (c: string) => `Subject: ${c}\n\n` + `${c.repeat(70)}\n.${c}\n`.repeat(28_000);
    const slow = virtualSetup([body("a"), body("b"), body("c")]);
    const session = "USER joe\r\nPASS secret\r\nRETR 1\r\nRETR 2\r\nTOP 3 5\r\nRETR 3\r\nQUIT\r\n";
    const serverArgs = (inlineMode: boolean) => [POPPIN, "serve", ...(inlineMode ? ["--inline"] : []), "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain];
    const ours = await startServer(serverArgs(true), { POPPIN_USERDB: slow.userdb, POPPIN_TIMEOUT: "1" });
    const classic = await startServer(serverArgs(false), { POPPIN_USERDB: slow.userdb });
    servers.push(ours, classic);
    const want = await talk(classic.port, session, 30_000);
    const client = Bun.spawn(["python3", "-c", `
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.connect(("127.0.0.1", ${ours.port}))
s.sendall(b"${session.replace(/\r\n/g, "\\r\\n")}")
got = []
while True:
    b = s.recv(32768)
    if not b: break
    got.append(b)
    time.sleep(0.01)
sys.stdout.buffer.write(b"".join(got))
`], { stdout: "pipe", stderr: "inherit" });
    const started = performance.now();
    const got = Buffer.from(await new Response(client.stdout).arrayBuffer());
    expect(await client.exited).toBe(0);
    expect(performance.now() - started).toBeGreaterThan(1000); // longer than POPPIN_TIMEOUT
    expect(want.length).toBeGreaterThan(6_000_000);
    expect(got.length).toBe(want.length);
    expect(got.equals(want)).toBe(true);
    await Bun.sleep(100);
    expect(ours.log()).toMatch(/poppin pop3d: info: end=quit user=joe rip=127\.0\.0\.1 messages=3 retrieved=4 /);
  });

  test("a client that resets the connection in the middle of a RETR: the session ends, nothing is deleted", async () => {
    const big = virtualSetup(["Subject: big\n\n" + "z".repeat(100).concat("\n").repeat(200_000)]);
    const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
      { POPPIN_USERDB: big.userdb });
    servers.push(s);
    const client = Bun.spawn(["python3", "-c", `
import socket, struct
s = socket.socket()
s.connect(("127.0.0.1", ${s.port}))
s.sendall(b"USER joe\\r\\nPASS secret\\r\\nDELE 1\\r\\nRSET\\r\\nRETR 1\\r\\nQUIT\\r\\n")
n = 0
while n < 300000:
    n += len(s.recv(65536))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`], { stdout: "ignore", stderr: "inherit" });
    expect(await client.exited).toBe(0);
    for (let i = 0; i < 50 && !/end=/.test(s.log()); i++) await Bun.sleep(100);
    expect(s.log()).toMatch(/poppin pop3d: info: end=eof user=joe rip=127\.0\.0\.1 messages=1 retrieved=0 /);
    expect(readdirSync(join(big.maildir, "cur")).length).toBe(1);
    // The server goes on serving.
    expect((await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString()).toMatch(/^\+OK \r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK \r\n$/);
  });
});

describe("policies, as the classic chain applies them", () => {
  test("popup options in the chain (--downcase-user) and the [IN-USE] session lock between two sessions of one process", async () => {
    const policyChain = [POPPIN, "popup", "--downcase-user", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
    const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...policyChain], env);
    servers.push(s);
    const first = await connectIdle(s.port);
    const firstAnswers: Buffer[] = [];
    first.on("data", (c: Buffer) => firstAnswers.push(c));
    first.write("USER JOE\r\nPASS secret\r\n");
    for (let i = 0; i < 200 && Buffer.concat(firstAnswers).toString() !== "+OK \r\n+OK \r\n"; i++) await Bun.sleep(10);
    expect(Buffer.concat(firstAnswers).toString()).toBe("+OK \r\n+OK \r\n");
    const second = (await talk(s.port, "USER joe\r\nPASS secret\r\nQUIT\r\n")).toString();
    expect(second).toBe("+OK \r\n+OK \r\n-ERR [IN-USE] mailbox in use by another session, try again later\r\n");
    first.end("QUIT\r\n");
    await new Promise((resolve) => first.on("close", resolve));
    const third = (await talk(s.port, "USER joe\r\nPASS secret\r\nQUIT\r\n")).toString();
    expect(third).toBe("+OK \r\n+OK \r\n+OK \r\n+OK \r\n"); // the lock went with the first session
    await s.stop();
  });
});

describe("privileges", () => {
  // A root-only file, and a user who planted symlinks to it in their Maildir: with and without ,S=/,W= in the name.
  const secretDir = tempDir("secret");
  chmodSync(secretDir, 0o755);
  const secretFile = join(secretDir, "shadow-like");
  writeFileSync(secretFile, "ROOT-ONLY-SECRET\n");
  chmodSync(secretFile, 0o600);
  const victim = virtualSetup(["Subject: mine\n\nmine\n"]);
  symlinkSync(secretFile, join(victim.maildir, "cur", "1600000000.M1P1.evil,S=17,W=18:2,"));
  symlinkSync(secretFile, join(victim.maildir, "cur", "1600000001.M2P2.evil:2,"));
  const session = "USER joe\r\nPASS secret\r\nLIST\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nQUIT\r\n";

  for (const mode of ["in-process (-u mail uid)", "user process (serve stays root)"]) {
    test(`a symlink planted in the Maildir to a root-only file is not served: ${mode}`, async () => {
      const extra = mode.startsWith("in-process") ? ["-u", String(MAIL_UID), "-g", String(MAIL_GID)] : [];
      const s = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", ...extra, "127.0.0.1", "0", ...chain], { POPPIN_USERDB: victim.userdb });
      servers.push(s);
      const out = (await talk(s.port, session)).toString("latin1");
      expect(out).not.toContain("ROOT-ONLY-SECRET");
      expect(out).toContain("mine\r\n");
      expect(out).toContain("-ERR unable to open that message");
      await s.stop();
    });
  }
});

describe("operability", () => {
  test("--metrics serves Prometheus text; the status line comes every POPPIN_STATUS_SECONDS; the credential cache counts hits", async () => {
    const metricsPort = 20000 + Math.floor(Math.random() * 20000);
    const s = await inline(["-u", String(MAIL_UID), "-g", String(MAIL_GID), "--metrics", `127.0.0.1:${metricsPort}`], { POPPIN_STATUS_SECONDS: "1", POPPIN_AUTH_CACHE_TTL: "60" });
    for (let i = 0; i < 2; i++) expect((await talk(s.port, "USER joe\r\nPASS secret\r\nQUIT\r\n")).toString()).toBe("+OK \r\n+OK \r\n+OK \r\n+OK \r\n");
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toContain('poppin_logins_total{result="ok"} 2\n');
    expect(text).toContain('poppin_auth_cache_lookups_total{result="hit"} 1\n');
    expect(text).toContain("poppin_connections_total 2\n");
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    expect(text).toContain("poppin_auth_cache_entries 1\n");
    s.proc.kill("SIGHUP"); // empties the cache, drops no session
    await Bun.sleep(200);
    expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain("poppin_auth_cache_entries 0\n");
    expect(s.log()).toContain("poppin serve: info: SIGHUP: certificates re-read, credential cache emptied");
    await Bun.sleep(1300);
    expect(s.log()).toMatch(/poppin serve: info: status connections=0\/40 authorization=0 transaction=0 user_processes=0 logins=2 failed=0 logins_per_second=[0-9.]+\n/);
  });

  test("SIGTERM: no new connections, open sessions finish; past POPPIN_STOP_SECONDS they are closed", async () => {
    const s = await inline(["-u", String(MAIL_UID), "-g", String(MAIL_GID)], { POPPIN_STOP_SECONDS: "2" });
    const busy = await connectIdle(s.port);
    const idle = await connectIdle(s.port);
    const answers: Buffer[] = [];
    busy.on("data", (c: Buffer) => answers.push(c));
    s.proc.kill("SIGTERM");
    await Bun.sleep(200);
    const refused = await new Promise<boolean>((resolve) => {
      const sock = require("node:net").connect({ host: "127.0.0.1", port: s.port });
      sock.on("error", () => resolve(true));
      sock.on("data", () => resolve(false));
    });
    expect(refused).toBe(true);
    busy.write("USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n");
    for (let i = 0; i < 100 && !Buffer.concat(answers).toString().endsWith("+OK \r\n+OK \r\n"); i++) await Bun.sleep(20);
    expect(Buffer.concat(answers).toString()).toMatch(/^\+OK \r\n\+OK \r\n\+OK \d+ \d+\r\n\+OK \r\n$/);
    const started = Date.now();
    const code = await s.proc.exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(4000);
    idle.destroy();
    busy.destroy();
    expect(s.log()).toContain("poppin serve: info: SIGTERM: not accepting; 2 sessions have 2 s to finish\n");
  });
});

/**
 * serve --inline as root with system users (useradd, yescrypt in /etc/shadow, each with
 * their own ~/Maildir): sessions run in mail workers started ahead of need. Each test
 * plays it against the classic chain (serve as root, checkpassword switching uid) byte for
 * byte, in plain, STLS and --tls; checks the worker serving a session from /proc (its
 * uid/gid and no capabilities: setuid(0) cannot succeed), that it was started before the
 * login (no process start on the login path), that mail it must not read is not served,
 * and that a killed worker costs only its session and is replaced.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { asUser, localUser, removeLocalUsers, sharedBase, symlinkAs, type LocalUser } from "../security/local_users.ts";
import { makeCertificate } from "../tls/harness.ts";
import { startServer, talk, withoutTimestamp, type Running } from "./harness.ts";

const base = sharedBase("workers");
const PASSWORD = "w0rker pass";

function systemUser(prefix: string, messages: string[]): LocalUser {
  const user = localUser(prefix, base);
  const pw = run(["chpasswd", "-c", "YESCRYPT"], { stdin: `${user.name}:${PASSWORD}\n` });
  if (pw.code !== 0) throw new Error(`chpasswd: ${pw.stderr}`);
  const maildir = join(user.home, "Maildir");
  for (const sub of ["", "tmp", "new", "cur"]) {
    mkdirSync(join(maildir, sub), { recursive: true, mode: 0o700 });
    chmodSync(join(maildir, sub), 0o700);
    chownSync(join(maildir, sub), user.uid, user.gid);
  }
  messages.forEach((m, i) => {
    const file = join(maildir, "new", `${1700000000 + i}.M${i}P1.test.example`);
    writeFileSync(file, m);
    chmodSync(file, 0o600);
    chownSync(file, user.uid, user.gid);
  });
  return user;
}

const big = "Subject: big\n\n" + "0123456789abcdef\n".repeat(6000);
const alice = systemUser("pwa", ["From: a@example.org\nSubject: alice one\n\nhello\n.dot line\n", big]);
const bob = systemUser("pwb", ["Subject: bob one\n\nbob's own mail\n"]);
const cert = makeCertificate();
chmodSync(cert.key, 0o600);

const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const env = { CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_MAIL_WORKERS: "2" };
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
  removeLocalUsers();
});

async function serve(extra: string[] = [], inline = true): Promise<Running> {
  const s = await startServer([POPPIN, "serve", ...(inline ? ["--inline"] : []), "-v", "-R", "-H", "-1", ...extra, "127.0.0.1", "0", ...chain], env);
  servers.push(s);
  return s;
}

const session = (u: LocalUser) => `USER ${u.name}\r\nPASS ${PASSWORD}\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\n${u === alice ? "RETR 2\r\n" : ""}QUIT\r\n`;

/** Children of `pid` (from /proc/PID/task/TID/children). */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // the thread ended
    }
  }
  return out;
}

function isWorker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").includes("--mail-worker");
  } catch {
    return false;
  }
}

function status(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, "latin1");
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(status(pid))![1]);
}

/** Idle workers (root) of a server. */
function idleWorkers(s: Running): number[] {
  return children(s.proc.pid).filter((p) => isWorker(p) && (() => { try { return uidOf(p) === 0; } catch { return false; } })());
}

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** A TLS session (implicit, or STLS after the greeting): everything the server said in plaintext. */
/** `user` logged in on a connection held open; the one process of serve's that serves it (the one with the user's uid). */
async function heldSession(server: Running, user: LocalUser): Promise<{ sock: net.Socket; serving: number; said: string }> {
  const sock = net.connect({ host: "127.0.0.1", port: server.port });
  let said = "";
  sock.on("data", (d: Buffer) => (said += d.toString("latin1")));
  sock.write(`USER ${user.name}\r\nPASS ${PASSWORD}\r\n`);
  await waitFor("the login", () => (said.match(/\r\n/g) ?? []).length >= 3);
  const serving = children(server.proc.pid).filter((p) => { try { return uidOf(p) === user.uid; } catch { return false; } });
  expect(serving.length).toBe(1);
  return { sock, serving: serving[0]!, said };
}

function talkTls(port: number, input: string, how: "implicit" | "stls"): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no end of TLS session; got ${text.slice(0, 300)}`)), 15_000);
    const secure = (socket?: net.Socket) => {
      const t = tls.connect({ ...(socket ? { socket } : { host: "127.0.0.1", port }), rejectUnauthorized: false }, () => t.write(input));
      t.on("data", (d: Buffer) => (text += d.toString("latin1")));
      t.on("error", () => {});
      t.on("close", () => {
        clearTimeout(timer);
        resolve(text);
      });
    };
    if (how === "implicit") return secure();
    const plain = net.connect({ host: "127.0.0.1", port });
    let said = "";
    const onData = (d: Buffer) => {
      said += d.toString("latin1");
      if (said.startsWith("+OK") && said.includes("\r\n") && !said.includes("STLS-SENT")) {
        said += "STLS-SENT";
        plain.write("STLS\r\n");
      } else if (said.includes("STLS-SENT+OK")) {
        plain.off("data", onData);
        secure(plain);
      }
    };
    plain.on("data", onData);
    plain.on("error", reject);
  });
}

describe("system users through mail workers (serve --inline as root)", () => {
  test("plain: two users' sessions are byte for byte the classic chain's, served by workers started before the login, as the user with no capabilities", async () => {
    const ours = await serve();
    const classic = await serve([], false);
    await waitFor("two idle workers", () => idleWorkers(ours).length === 2);
    for (const u of [alice, bob]) {
      const a = await talk(classic.port, session(u));
      const b = await talk(ours.port, session(u));
      expect(withoutTimestamp(b)).toBe(withoutTimestamp(a));
      expect(b.toString("latin1")).toContain(u === alice ? "alice one" : "bob's own mail");
    }
    // Again, now from the worker kept for alice since her first session: still the classic chain's bytes.
    const again = await talk(ours.port, session(alice));
    expect(withoutTimestamp(again)).toBe(withoutTimestamp(await talk(classic.port, session(alice))));
    expect(again.toString("latin1")).toContain("0123456789abcdef\r\n".repeat(10));

    // A session held open: the process serving it is one of the workers that waited before it.
    const { sock, serving: pid } = await heldSession(ours, bob);
    expect(isWorker(pid)).toBe(true);
    const st = status(pid);
    expect(st).toMatch(new RegExp(`^Uid:\\s+${bob.uid}\\s+${bob.uid}\\s+${bob.uid}\\s+${bob.uid}$`, "m"));
    expect(st).toMatch(new RegExp(`^Gid:\\s+${bob.gid}\\s+${bob.gid}\\s+${bob.gid}\\s+${bob.gid}$`, "m"));
    expect(st).toMatch(new RegExp(`^Groups:\\s+${bob.gid}\\s*$`, "m"));
    // No capability at all (permitted, effective, bounding use aside): setuid(0) cannot succeed.
    expect(st).toMatch(/^CapPrm:\s+0+$/m);
    expect(st).toMatch(/^CapEff:\s+0+$/m);
    // Non-dumpable after its switch: the user cannot read its memory or environment (nor attach to it).
    const peek = asUser(bob, ["cat", `/proc/${pid}/environ`]);
    expect(peek.code).not.toBe(0);
    expect(peek.err).toMatch(/Permission denied|Operation not permitted/);
    // Its descriptors: the connection (0, 1) and its control socket (2 and 3: log lines and the end record);
    // nothing else of serve's (no service log, no listener, no other session's connection).
    const links = new Map(readdirSync(`/proc/${pid}/fd`).map((fd) => [Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`)] as const));
    const serveLog = readlinkSync(`/proc/${ours.proc.pid}/fd/2`);
    expect([...links.values()]).not.toContain(serveLog);
    expect(links.get(0)).toBe(links.get(1)!);
    expect(links.get(0)).toMatch(/^socket:/);
    expect(links.get(2)).toBe(links.get(3)!);
    expect(links.get(2)).not.toBe(links.get(0)!);
    expect([...links].filter(([fd, l]) => fd > 3 && /^socket:/.test(l))).toEqual([]);
    sock.write("QUIT\r\n");
    await new Promise((r) => sock.on("close", r));
    await waitFor("four end lines", () => (ours.log().match(/pop3d: info: end=quit/g) ?? []).length >= 4 && (ours.log().match(/tcpserver: end /g) ?? []).length >= 4);
    expect(ours.log().match(/pop3d: info: end=quit/g)!.length).toBe(4);
    // Each session's pop3d lines come before serve's end line for it.
    expect(ours.log().split("\n").filter((l) => /end=quit|tcpserver: end/.test(l)).map((l) => (l.includes("end=quit") ? "pop3d" : "serve"))).toEqual(Array(4).fill(["pop3d", "serve"]).flat());
    await waitFor("the pool refilled", () => idleWorkers(ours).length === 2);
    expect(ours.log()).not.toContain("mail worker: fatal");
  });

  test("no process is started on the login path: a login is served by a worker that waited; the user's next logins start no process at all", async () => {
    const metricsPort = 20000 + Math.floor(Math.random() * 20000);
    const ours = await serve(["--metrics", `127.0.0.1:${metricsPort}`]);
    await waitFor("two idle workers", () => idleWorkers(ours).length === 2);
    let first: number | undefined;
    for (let i = 0; i < 4; i++) {
      const before = children(ours.proc.pid).sort();
      const { sock, serving, said } = await heldSession(ours, alice);
      try {
        expect(said).toMatch(/^\+OK [^\r]*\r\n\+OK \r\n\+OK \r\n$/);
        // Started before this connection (a waiting worker, or the one that served alice before).
        expect(before).toContain(serving);
        if (i === 0) first = serving;
        else expect(serving).toBe(first!);
        sock.write("QUIT\r\n");
        await new Promise((r) => sock.on("close", r));
      } finally {
        sock.destroy();
      }
      await waitFor("the pool refilled", () => idleWorkers(ours).length === 2);
      // After the first login (whose worker is replaced off the login path), a login starts nothing.
      if (i > 0) expect(children(ours.proc.pid).sort()).toEqual(before);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain("\npoppin_mail_workers_handed_total 4\n");
    expect(metrics).toContain("\npoppin_mail_workers_reused_total 3\n");
    expect(metrics).toContain("\npoppin_mail_worker_fallbacks_total 0\n");
    expect(metrics).toContain("\npoppin_mail_workers_idle 2\n");
  });

  test("POPPIN_MAIL_WORKERS=0: no worker waits; each session gets a pop3d process of its own, with the same bytes", async () => {
    const ours = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...chain], { ...env, POPPIN_MAIL_WORKERS: "0" });
    servers.push(ours);
    const classic = await serve([], false);
    await Bun.sleep(300);
    expect(children(ours.proc.pid).filter(isWorker)).toEqual([]);
    const { sock, serving } = await heldSession(ours, bob);
    expect(readFileSync(`/proc/${serving}/cmdline`, "latin1")).toContain("pop3d");
    sock.write("QUIT\r\n");
    await new Promise((r) => sock.on("close", r));
    expect(withoutTimestamp(await talk(ours.port, session(bob)))).toBe(withoutTimestamp(await talk(classic.port, session(bob))));
  });

  for (const how of ["stls", "implicit"] as const) {
    test(`${how === "stls" ? "STLS" : "--tls"}: TLS kept in serve, the plaintext relayed to the worker, byte for byte the classic chain's`, async () => {
      const extra = how === "implicit" ? ["--tls"] : [];
      const ours = await serve(extra);
      const classic = await serve(extra, false);
      for (const u of [alice, bob]) {
        const a = await talkTls(classic.port, session(u), how);
        const b = await talkTls(ours.port, session(u), how);
        const blank = (t: string) => t.replace(/^\+OK <[^>]*>/, "+OK <>");
        expect(blank(b)).toBe(blank(a));
        expect(b).toContain(u === alice ? "0123456789abcdef\r\n".repeat(10) : "bob's own mail");
        expect(b).toContain("+OK \r\n");
      }
      expect(ours.log()).toMatch(/pop3d: info: end=quit user=pwa/);
      expect(ours.log()).not.toContain("not served");
    });
  }

  test("a symlink in a user's Maildir to a root-only file or to another user's mail is not served", async () => {
    const secretDir = tempDir("wsecret");
    chmodSync(secretDir, 0o755);
    const secret = join(secretDir, "root-only");
    writeFileSync(secret, "ROOT-ONLY-SECRET\n");
    chmodSync(secret, 0o600);
    const mallory = systemUser("pwm", ["Subject: mallory\n\nmine\n"]);
    const cur = join(mallory.home, "Maildir", "cur");
    symlinkAs(mallory, secret, join(cur, "1600000000.M1P1.evil,S=17:2,"));
    const aliceMail = ["new", "cur"].flatMap((d) => readdirSync(join(alice.home, "Maildir", d)).map((f) => join(alice.home, "Maildir", d, f)))[0]!;
    symlinkAs(mallory, aliceMail, join(cur, "1600000001.M2P2.evil:2,"));
    const ours = await serve();
    const out = (await talk(ours.port, `USER ${mallory.name}\r\nPASS ${PASSWORD}\r\nLIST\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nQUIT\r\n`)).toString("latin1");
    expect(out).toContain("mine\r\n");
    expect(out).not.toContain("ROOT-ONLY-SECRET");
    expect(out).not.toContain("alice one");
    // The links are not listed (the user cannot open them): as the classic chain, where pop3d runs as the user.
    expect(out).toMatch(/^\+OK [^\r]*\r\n\+OK \r\n\+OK \r\n\+OK \r\n1 26\r\n\.\r\n/);
    const classic = await serve([], false);
    const theirs = (await talk(classic.port, `USER ${mallory.name}\r\nPASS ${PASSWORD}\r\nLIST\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nQUIT\r\n`)).toString("latin1");
    expect(out.replace(/^\+OK <[^>]*>/, "")).toBe(theirs.replace(/^\+OK <[^>]*>/, ""));
  });

  test("a killed worker costs only its session and is replaced; an idle one that dies is replaced too", async () => {
    const ours = await serve();
    await waitFor("two idle workers", () => idleWorkers(ours).length === 2);
    const sock = net.connect({ host: "127.0.0.1", port: ours.port });
    let said = "";
    sock.on("data", (d: Buffer) => (said += d.toString("latin1")));
    sock.on("error", () => {});
    sock.write(`USER ${alice.name}\r\nPASS ${PASSWORD}\r\n`);
    await waitFor("the login", () => (said.match(/\r\n/g) ?? []).length >= 3);
    // bob's session, open at the same time, must not notice.
    const other = net.connect({ host: "127.0.0.1", port: ours.port });
    let heard = "";
    other.on("data", (d: Buffer) => (heard += d.toString("latin1")));
    other.write(`USER ${bob.name}\r\nPASS ${PASSWORD}\r\nSTAT\r\n`);
    await waitFor("bob's login", () => /\+OK 1 \d+\r\n/.test(heard));
    const closed = new Promise((r) => sock.on("close", r));
    const busy = children(ours.proc.pid).find((p) => { try { return uidOf(p) === alice.uid; } catch { return false; } })!;
    process.kill(busy, "SIGKILL");
    await closed;
    const otherClosed = new Promise((r) => other.on("close", r));
    other.write("RETR 1\r\nQUIT\r\n");
    await otherClosed;
    expect(heard).toContain("bob's own mail");
    expect(heard.endsWith("+OK \r\n")).toBe(true);
    await waitFor("the end line", () => /tcpserver: end \d+ status 9\b/.test(ours.log()) || /end \d+ signal 9/.test(ours.log()));
    // Meanwhile another session is untouched, and the pool is back to two.
    expect((await talk(ours.port, session(bob))).toString("latin1")).toContain("bob's own mail");
    await waitFor("the pool refilled", () => idleWorkers(ours).length === 2);
    const idle = idleWorkers(ours)[0]!;
    process.kill(idle, "SIGKILL");
    await waitFor("an idle worker replaced", () => idleWorkers(ours).length === 2 && !idleWorkers(ours).includes(idle));
    expect((await talk(ours.port, session(bob))).toString("latin1")).toContain("bob's own mail");
  });

  test("a hung worker (stopped while waiting) is killed when it does not take its session: that session ends, the next is served", async () => {
    const ours = await serve();
    await waitFor("two idle workers", () => idleWorkers(ours).length === 2);
    const stopped = idleWorkers(ours);
    for (const pid of stopped) process.kill(pid, "SIGSTOP");
    const started = Date.now();
    const out = (await talk(ours.port, `USER ${bob.name}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`, 15_000)).toString("latin1");
    expect(out).not.toContain("bob's own mail");
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(ours.log()).toMatch(/pop3d: warning: mail worker \d+ did not take its session within 5 s: killed/);
    for (const pid of stopped) {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // the one that was killed
      }
    }
    expect((await talk(ours.port, session(bob))).toString("latin1")).toContain("bob's own mail");
  }, 30_000);

  test("serve killed with -9: its idle workers end at once; a serving one finishes its session (as tcpserver's children do) and then ends", async () => {
    const ours = await serve();
    await waitFor("two idle workers", () => idleWorkers(ours).length === 2);
    const sock = net.connect(ours.port, "127.0.0.1");
    let heard = "";
    sock.on("data", (d) => (heard += d.toString("latin1")));
    sock.on("error", () => {});
    const closed = new Promise((r) => sock.on("close", r));
    sock.write(`USER ${bob.name}\r\nPASS ${PASSWORD}\r\nSTAT\r\n`);
    await waitFor("bob's login", () => /\+OK 1 \d+\r\n/.test(heard));
    const serving = children(ours.proc.pid).filter((p) => isWorker(p) && uidOf(p) === bob.uid);
    expect(serving.length).toBe(1);
    await waitFor("the pool refilled", () => idleWorkers(ours).length === 2);
    const idle = idleWorkers(ours);
    process.kill(ours.proc.pid, "SIGKILL");
    await ours.proc.exited;
    await waitFor("the idle workers gone", () => idle.every((p) => !isWorker(p)));
    expect(isWorker(serving[0]!)).toBe(true);
    sock.write("RETR 1\r\nQUIT\r\n");
    await closed;
    expect(heard).toContain("bob's own mail");
    expect(heard.endsWith("+OK \r\n")).toBe(true);
    await waitFor("the serving worker gone after its session", () => !isWorker(serving[0]!));
  }, 30_000);
});

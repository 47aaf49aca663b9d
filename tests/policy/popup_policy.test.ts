/**
 * popup's login policies as a process (the fake checkpassword from tests/pop3 accepts
 * joe/secret and records its fd-3 data): clear-text-password modes, AUTH PLAIN, APOP
 * only when enabled, user lists and rewrites, failure delay and per-address limit,
 * CAPA extras, and greppable failure lines that fail2ban's filter matches.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../../mod/cli/version.ts";
import { applet, requireTool, ROOT, run, tempDir } from "../helpers.ts";
import { makeMaildir, spawnConversation } from "../pop3/conversation.ts";

const FAKE = join(ROOT, "tests", "pop3", "fake_checkpassword.py");
const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");

function popup(flags: string[] = [], env: Record<string, string> = {}) {
  const home = tempDir("popup-policy");
  makeMaildir(home, ["Subject: one\n\nbody\n"]);
  const log = join(home, "fd3.log");
  const fullEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", FAKE_HOME: home, FAKE_LOG: log, TCPREMOTEIP: "192.0.2.7", POPPIN_AUTH_FAILURE_DELAY: "0", ...env };
  const cmd = [applet("qmail-popup"), ...flags, "mail.example", FAKE, applet("qmail-pop3d"), "Maildir"];
  const fd3 = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean).map((h) => Buffer.from(h, "hex").toString("latin1")) : []);
  const session = (input: string) => run(cmd, { stdin: input, env: fullEnv });
  return { home, cmd, env: fullEnv, fd3, session };
}

describe("clear-text-password", () => {
  test("never: USER, PASS and AUTH PLAIN refused with [SYS/PERM]; CAPA lists neither; APOP still works when enabled", () => {
    const p = popup(["--clear-text-password=never", "--apop"]);
    const r = p.session(`CAPA\r\nUSER joe\r\nPASS secret\r\nAUTH PLAIN ${b64("\0joe\0secret")}\r\nAUTH\r\nQUIT\r\n`);
    expect(r.out).not.toContain("\r\nUSER\r\n");
    expect(r.out).not.toContain("SASL");
    expect(r.out.split("-ERR [SYS/PERM] clear-text passwords are not accepted here\r\n").length - 1).toBe(3);
    expect(r.out).toContain("+OK \r\n.\r\n"); // bare AUTH: no mechanism usable
    expect(p.fd3()).toEqual([]);
    const ts = /^\+OK (<[^>]+>)/.exec(r.out)![1]!;
    expect(ts).toMatch(/@mail\.example>$/);
  });

  test("local: refused from 192.0.2.7, allowed from 127.0.0.1 and ::1", () => {
    expect(popup(["--clear-text-password=local"]).session("USER joe\r\nQUIT\r\n").out).toContain("-ERR [SYS/PERM] clear-text passwords are accepted only from this host\r\n");
    for (const ip of ["127.0.0.1", "::1"]) {
      const p = popup(["--clear-text-password=local"], { TCPREMOTEIP: ip });
      expect(p.session("USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n").out).toMatch(/^\+OK \r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n/);
    }
  });

  test("tls without a certificate: refused for good ([SYS/PERM]), STLS not offered", () => {
    const r = popup(["--clear-text-password=tls"]).session("CAPA\r\nUSER joe\r\nSTLS\r\nQUIT\r\n");
    expect(r.out).toContain("-ERR [SYS/PERM] clear-text passwords need TLS, which is not configured here\r\n");
    expect(r.out).toContain("-ERR STLS not available: no certificate is configured\r\n");
    expect(r.out).not.toContain("\r\nSTLS\r\n");
  });

  test("always (and the default): USER/PASS work", () => {
    for (const flags of [["--clear-text-password=always"], []]) {
      expect(popup(flags).session("USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n").out).toMatch(/\+OK 1 \d+\r\n/);
    }
  });
});

describe("SASL AUTH PLAIN (RFC 5034)", () => {
  test("initial response, and the '+ ' continuation; checkpassword gets user\\0password\\0timestamp", () => {
    const p = popup();
    expect(p.session(`AUTH PLAIN ${b64("\0joe\0secret")}\r\nSTAT\r\nQUIT\r\n`).out).toMatch(/^\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n/);
    expect(p.session(`AUTH PLAIN\r\n${b64("joe\0joe\0secret")}\r\nSTAT\r\nQUIT\r\n`).out).toMatch(/^\+OK \r\n\+ \r\n\+OK \r\n\+OK 1 \d+\r\n/);
    expect(p.fd3().map((d) => d.split("\0").slice(0, 2))).toEqual([["joe", "secret"], ["joe", "secret"]]);
  });

  test("'*' cancels, bad base64 and bad messages are refused, bare AUTH lists PLAIN, other mechanisms refused", () => {
    const p = popup();
    const r = p.session([
      "AUTH", "AUTH PLAIN", "*", "AUTH PLAIN", "not base64!", `AUTH PLAIN ${b64("joe\0secret")}`,
      `AUTH PLAIN ${b64("admin\0joe\0secret")}`, "AUTH PLAIN =", "AUTH CRAM-MD5", `AUTH PLAIN ${b64("\0joe\0wrong")}`, "QUIT", "",
    ].join("\r\n"));
    expect(r.out).toBe([
      "+OK ", "+OK ", "PLAIN", ".", "+ ", "-ERR [AUTH] authentication cancelled", "+ ", "-ERR [AUTH] invalid base64 in the response",
      "-ERR [AUTH] invalid PLAIN response: not authzid NUL authcid NUL password",
      "-ERR [AUTH] invalid PLAIN response: acting as another user (authzid) is not supported",
      "-ERR [AUTH] invalid PLAIN response: empty response",
      "-ERR [AUTH] unsupported mechanism",
      "-ERR [AUTH] authorization failed", "+OK ", "",
    ].join("\r\n"));
    expect(p.fd3().map((d) => d.split("\0")[0])).toEqual(["joe"]);
  });
});

describe("APOP is offered only when enabled", () => {
  test("no timestamp and APOP refused by default; --apop (or set apop) offers it", () => {
    const p = popup();
    const off = p.session("APOP joe 0123456789abcdef0123456789abcdef\r\nQUIT\r\n");
    expect(off.out).toBe("+OK \r\n-ERR APOP not available: no timestamp was offered\r\n+OK \r\n");
    const conf = join(p.home, "apop.conf");
    writeFileSync(conf, "set apop\n");
    expect(popup(["-f", conf]).session("QUIT\r\n").out).toMatch(/^\+OK <\d+\.\d+@mail\.example>\r\n/);
  });
});

describe("user policies", () => {
  test("downcase-user and trim-domain rewrite the name checkpassword sees", () => {
    const p = popup(["--downcase-user", "--trim-domain"]);
    expect(p.session("USER JOE@Example.ORG\r\nPASS secret\r\nSTAT\r\nQUIT\r\n").out).toMatch(/\+OK 1 \d+\r\n/);
    expect(p.fd3().map((d) => d.split("\0")[0])).toEqual(["joe"]);
    const q = popup();
    q.session("USER JOE@Example.ORG\r\nPASS secret\r\nQUIT\r\n");
    expect(q.fd3().map((d) => d.split("\0")[0])).toEqual(["JOE@Example.ORG"]);
  });

  test("auth-file admits only listed users, nonauth-file refuses listed ones; the answer is a wrong password's", () => {
    const dir = tempDir("lists");
    writeFileSync(join(dir, "allowed"), "# staff\nann\n");
    writeFileSync(join(dir, "denied"), "joe # no mail for joe\n");
    for (const flag of [`--auth-file=${join(dir, "allowed")}`, `--nonauth-file=${join(dir, "denied")}`]) {
      const p = popup([flag]);
      const r = p.session("USER joe\r\nPASS secret\r\nUSER nobody\r\nPASS x\r\nQUIT\r\n");
      expect(r.out).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
      expect(p.fd3().map((d) => d.split("\0")[0])).toEqual(flag.startsWith("--auth-file") ? [] : ["nobody"]);
      expect(r.stderr).toMatch(/authorization failed rip=192\.0\.2\.7 user=joe mech=USER why=(not%20listed%20in%20auth-file|listed%20in%20nonauth-file)/);
    }
    const allowed = popup([`--auth-file=${join(dir, "allowed")}`, "--downcase-user"]);
    writeFileSync(join(dir, "allowed"), "joe\n");
    expect(allowed.session("USER Joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n").out).toMatch(/\+OK 1 \d+\r\n/);
  });
});

describe("brute force", () => {
  test("a failed login is answered after auth-failure-delay, without blocking the process's timers", async () => {
    const p = popup([], { POPPIN_AUTH_FAILURE_DELAY: "0.6" });
    const { talk, proc } = spawnConversation(p.cmd, { env: p.env });
    await talk.waitFor("+OK");
    talk.send("USER joe\r\nPASS wrong\r\n");
    await talk.waitFor("+OK \r\n+OK \r\n");
    const sent = Date.now();
    await talk.waitFor("-ERR [AUTH] authorization failed\r\n");
    expect(Date.now() - sent).toBeGreaterThanOrEqual(550);
    talk.send("QUIT\r\n");
    await talk.waitEnd();
    await proc.exited;
  });

  test("per-address limit: after auth-failure-limit failures the address is refused without a password check", () => {
    const dir = tempDir("failures");
    const flags = [`--auth-failure-dir=${dir}`, "--auth-failure-limit=2", "--auth-failure-window=600"];
    const p = popup(flags);
    p.session("USER joe\r\nPASS bad1\r\nPASS bad2\r\nQUIT\r\n");
    const r = p.session("USER joe\r\nPASS secret\r\nQUIT\r\n");
    expect(r.out).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
    expect(r.stderr).toContain("why=too%20many%20failed%20logins%20from%20this%20address");
    expect(p.fd3().map((d) => d.split("\0")[1])).toEqual(["bad1", "bad2"]);
    const other = popup(flags, { TCPREMOTEIP: "198.51.100.1" });
    expect(other.session("USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n").out).toMatch(/\+OK 1 \d+\r\n/);
  });

  test("failure lines are greppable, never hold the password, and fail2ban's filter finds the address", () => {
    requireTool("fail2ban-regex");
    const p = popup();
    const r = p.session("USER joe\r\nPASS hunter2\r\nUSER evil rip=10.9.9.9\r\nPASS hunter3\r\nQUIT\r\n");
    expect(r.stderr).not.toContain("hunter");
    const lines = r.stderr.split("\n").filter((l) => l.includes("authorization failed"));
    expect(lines).toEqual(["qmail-popup: warning: authorization failed rip=192.0.2.7 user=joe mech=USER", "qmail-popup: warning: authorization failed rip=192.0.2.7 user=evil%20rip=10.9.9.9 mech=USER"]);
    const log = join(tempDir("f2b"), "current");
    writeFileSync(log, lines.map((l, i) => `2026-11-21 10:00:0${i} ${l}\n`).join("") + `Nov 21 10:00:05 mail poppin[7]: ${lines[0]}\n@40000000692b1c3a0a8b2c1c ${lines[0]}\n@40000000692b1c3b0a8b2c1c poppin popup: warning: authorization temporary failure rip=192.0.2.8 user=x why=y\n`);
    const f = run(["fail2ban-regex", "-o", "ip", log, join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf")]);
    expect(f.code).toBe(0);
    expect(f.out.trim().split("\n")).toEqual(["192.0.2.7", "192.0.2.7", "192.0.2.7", "192.0.2.7"]);
  });
});

describe("timeout", () => {
  test("set timeout in the config file: an idle client is dropped; the value reaches the chain", async () => {
    const p = popup();
    const conf = join(p.home, "t.conf");
    writeFileSync(conf, "set timeout = 1\n");
    const { talk, proc } = spawnConversation([p.cmd[0]!, "-f", conf, ...p.cmd.slice(1)], { env: p.env });
    await talk.waitFor("+OK");
    const started = Date.now();
    await talk.waitEnd(10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await proc.exited;
    const after = spawnConversation([p.cmd[0]!, "-f", conf, ...p.cmd.slice(1)], { env: p.env });
    await after.talk.waitFor("+OK");
    after.talk.send("USER joe\r\nPASS secret\r\n");
    await after.talk.waitFor("+OK \r\n+OK \r\n+OK \r\n"); // pop3d's greeting: now pop3d's own timeout
    const loggedIn = Date.now();
    await after.talk.waitEnd(10_000);
    expect(Date.now() - loggedIn).toBeGreaterThanOrEqual(900);
    await after.proc.exited;
  });
});

describe("CAPA extras", () => {
  test("IMPLEMENTATION with the version unless shy; LOGIN-DELAY and EXPIRE as announced", () => {
    expect(popup().session("CAPA\r\nQUIT\r\n").out).toContain(`\r\nIMPLEMENTATION poppin-${VERSION}\r\n`);
    expect(popup(["--shy"]).session("CAPA\r\nQUIT\r\n").out).not.toContain("IMPLEMENTATION");
    const r = popup(["--announce-login-delay=900", "--announce-expire=30"]).session("CAPA\r\nQUIT\r\n");
    expect(r.out).toContain("\r\nLOGIN-DELAY 900\r\nEXPIRE 30\r\n");
    expect(popup(["--announce-expire=never"]).session("CAPA\r\nQUIT\r\n").out).toContain("\r\nEXPIRE NEVER\r\n");
  });
});

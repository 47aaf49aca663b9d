/**
 * Under serve --inline as root, a system user's pop3d runs with the user's uid, so the
 * user can ptrace it: it holds no descriptor of the service log. Its stderr is a pipe to
 * serve, which writes each line under pop3d's prefix, escaped and bounded; a line forged
 * to look like popup's (which fail2ban acts on) stays pop3d's and is not matched.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { POPPIN, ROOT, requireTool, run, tempDir } from "../helpers.ts";
import { MAX_USER_LOG_LINES, forwardUserLog, userLogLine } from "../../mod/standalone/user_log.ts";
import { startServer, virtualSetup, type Running } from "./harness.ts";

const setup = virtualSetup(["Subject: x\n\nx\n"]);
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

function childrenOf(pid: number): number[] {
  return readdirSync("/proc").filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, "latin1");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid ? [Number(n)] : [];
    } catch {
      return [];
    }
  });
}

test("serve as root: the user's pop3d process has no descriptor of the service log; its lines still reach the log", async () => {
  const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "127.0.0.1", "0", ...chain], { POPPIN_USERDB: setup.userdb, POPPIN_STOP_SECONDS: "0" });
  servers.push(s);
  const sock = net.connect({ host: "127.0.0.1", port: s.port });
  let got = "";
  sock.on("data", (c: Buffer) => (got += c.toString("latin1")));
  await new Promise((r) => sock.once("connect", r));
  sock.write("USER joe\r\nPASS secret\r\nSTAT\r\n");
  for (let i = 0; i < 100 && !/\+OK 1 \d+\r\n/.test(got); i++) await Bun.sleep(50);
  expect(got).toMatch(/\+OK 1 \d+\r\n/);
  const user = childrenOf(s.proc.pid).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("pop3d"));
  expect(user).toHaveLength(1);
  expect(readFileSync(`/proc/${user[0]}/status`, "latin1")).toMatch(/^Uid:\s+65534\s/m);
  const serviceLog = readlinkSync(`/proc/${s.proc.pid}/fd/2`);
  const held = readdirSync(`/proc/${user[0]}/fd`).map((fd) => readlinkSync(`/proc/${user[0]}/fd/${fd}`));
  expect(held).not.toContain(serviceLog);
  // A pipe (Bun makes it a socketpair) to serve, and not the client connection (fd 0).
  expect(readlinkSync(`/proc/${user[0]}/fd/2`)).toMatch(/^(pipe|socket):/);
  expect(readlinkSync(`/proc/${user[0]}/fd/2`)).not.toBe(readlinkSync(`/proc/${user[0]}/fd/0`));
  sock.write("QUIT\r\n");
  await new Promise((r) => sock.once("close", r));
  for (let i = 0; i < 50 && !/end=quit/.test(s.log()); i++) await Bun.sleep(50);
  expect(s.log()).toMatch(/^poppin pop3d: info: end=quit user=joe rip=127\.0\.0\.1 messages=1 /m);
});

test("lines from a user process: pop3d's prefix always, octets escaped, one line each, bounded", async () => {
  const enc = new TextEncoder();
  expect(userLogLine("qmail-pop3d", enc.encode("qmail-pop3d: info: end=quit user=joe"))).toBe("qmail-pop3d: info: end=quit user=joe\n");
  expect(userLogLine("qmail-pop3d", enc.encode("qmail-popup: warning: authorization failed rip=203.0.113.9 user=x")))
    .toBe("qmail-pop3d: warning: qmail-popup: warning: authorization failed rip=203.0.113.9 user=x\n");
  expect(userLogLine("poppin pop3d", Uint8Array.from([...enc.encode("poppin pop3d: info: a\rb"), 0xff, 0x1b]))).toBe("poppin pop3d: info: a%0Db%FF%1B\n");
  expect(userLogLine("poppin pop3d", enc.encode("poppin pop3d: secret: x"))).toBe("poppin pop3d: warning: poppin pop3d: secret: x\n");
  const lines: string[] = [];
  const flood = "tcpserver: end 1 status 0\n".repeat(MAX_USER_LOG_LINES + 50) + "x".repeat(5000);
  await forwardUserLog(new Response(flood).body!, "qmail-pop3d", (l) => lines.push(l), 1000).stop();
  expect(lines).toHaveLength(MAX_USER_LOG_LINES + 1);
  expect(lines[0]).toBe("qmail-pop3d: warning: tcpserver: end 1 status 0\n");
  expect(lines.at(-1)).toBe(`qmail-pop3d: warning: more than ${MAX_USER_LOG_LINES} log lines from one session, the rest dropped\n`);
  expect(lines.every((l) => l.indexOf("\n") === l.length - 1)).toBe(true);
});

test("a popup line forged by a user process is not what fail2ban's filter matches", () => {
  requireTool("fail2ban-regex");
  const enc = new TextEncoder();
  const forged = ["qmail-pop3d", "poppin pop3d"].flatMap((p) => [
    userLogLine(p, enc.encode("qmail-popup: warning: authorization failed rip=203.0.113.9 user=x")),
    userLogLine(p, enc.encode(`${p}: warning: qmail-popup: warning: authorization failed rip=203.0.113.9 user=x`)),
    userLogLine(p, enc.encode(`${p}: warning: x: poppin popup: warning: authorization failed rip=203.0.113.9 user=x`)),
  ]);
  const log = join(tempDir("f2b"), "current");
  writeFileSync(log, [...forged, "qmail-popup: warning: authorization failed rip=192.0.2.7 user=joe\n"].map((l) => `@40000000692b1c3a0a8b2c1c ${l}`).join(""));
  const f = run(["fail2ban-regex", "-o", "ip", log, join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf")]);
  expect(f.code).toBe(0);
  expect(f.out.trim().split("\n")).toEqual(["192.0.2.7"]);
});

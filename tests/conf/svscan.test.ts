/**
 * A service made by qmail-pop3d-conf (ours) under Debian's real svscan/supervise:
 * svstat shows it and its logger up with stable pids; logins are refused until
 * ./add-client 127.0.0.1 and make; log/main fills with tcpserver lines that Debian's
 * tai64nlocal reads; svc -t restarts serve while a session finishes its deletions, and
 * no message is lost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { freePort, Pop3Client } from "./pop3_client.ts";

const NOBODY = 65534;
const work = tempDir("conf-svscan");
chmodSync(work, 0o755);
const home = join(work, "home");
const service = join(work, "pop3d");
const scan = join(work, "service");
let port = 0;
let svscan: ChildProcess | undefined;

function svstat(dir: string): string {
  return run([requireTool("svstat"), dir]).out;
}

function upPid(dir: string): number | undefined {
  const m = /: up \(pid (\d+)\)/.exec(svstat(dir));
  return m ? Number(m[1]) : undefined;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

async function login(): Promise<Pop3Client> {
  const c = await Pop3Client.open(port);
  expect(await c.line()).toStartWith("+OK");
  expect(await c.command("USER demo")).toStartWith("+OK");
  expect(await c.command("PASS secret")).toStartWith("+OK");
  return c;
}

beforeAll(async () => {
  requireTool("svscan"); requireTool("supervise"); requireTool("make");
  port = await freePort();
  mkdirSync(home);
  const maildir = join(home, "Maildir");
  expect(run([applet("maildirmake"), maildir]).code).toBe(0);
  for (let i = 1; i <= 3; i++) expect(run([applet("deliver"), maildir], { stdin: `Subject: m${i}\n\nbody ${i}\n` }).code).toBe(0);
  for (const sub of ["", "/tmp", "/new", "/cur"]) chownSync(maildir + sub, NOBODY, NOBODY);
  for (const f of readdirSync(join(maildir, "new"))) chownSync(join(maildir, "new", f), NOBODY, NOBODY);
  chownSync(home, NOBODY, NOBODY);
  const userdb = join(work, "users");
  expect(run([applet("users"), "-f", userdb, "add", "demo", String(NOBODY), String(NOBODY), home], { stdin: "secret\n" }).code).toBe(0);
  chmodSync(userdb, 0o600);

  const r = run([applet("qmail-pop3d-conf"), applet("checkpassword"), "nobody", service, "127.0.0.1", "--port", String(port)]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  writeFileSync(join(service, "env", "POPPIN_USERDB"), `${userdb}\n`);
  mkdirSync(scan);
  symlinkSync(service, join(scan, "pop3d"));
  svscan = spawn(requireTool("svscan"), [scan], { stdio: "ignore", detached: false });
  await waitFor("svstat up", () => upPid(service) && upPid(join(service, "log")));
}, 30_000);

afterAll(async () => {
  run([requireTool("svc"), "-dx", service, join(service, "log")]);
  svscan?.kill("SIGTERM");
  await waitFor("supervise to exit", () => !existsSync(join(service, "supervise", "lock")) || !/up/.test(svstat(service)), 5000).catch(() => undefined);
});

describe("qmail-pop3d-conf service under svscan", () => {
  test("svstat shows the service and its logger up, with pids that stay", async () => {
    const pid = upPid(service)!;
    const logPid = upPid(join(service, "log"))!;
    await Bun.sleep(1200);
    expect(upPid(service)).toBe(pid);
    expect(upPid(join(service, "log"))).toBe(logPid);
    expect(svstat(service)).toMatch(/^.*pop3d: up \(pid \d+\) [1-9]\d* seconds\n$/);
  });

  test("the rules deny everyone until add-client and make", async () => {
    const denied = await Pop3Client.open(port);
    expect(await denied.line()).toBeUndefined();
    denied.close();
    const add = run(["./add-client", "127.0.0.1"], { cwd: service });
    expect(add.code).toBe(0);
    expect(readFileSync(join(service, "tcp"), "utf8")).toEndWith(":deny\n127.0.0.1:allow\n");
    const still = await Pop3Client.open(port);
    expect(await still.line()).toBeUndefined();
    still.close();
    const make = run([requireTool("make")], { cwd: service });
    expect(make.code).toBe(0);
    const c = await login();
    expect(await c.command("STAT")).toMatch(/^\+OK 3 \d+\r\n$/);
    expect(await c.command("QUIT")).toStartWith("+OK");
    c.close();
  });

  test("log/main fills with tcpserver lines that tai64nlocal reads", async () => {
    const current = join(service, "log", "main", "current");
    const text = await waitFor("log lines", () => {
      const t = existsSync(current) ? readFileSync(current, "latin1") : "";
      return /tcpserver: end /.test(t) && /tcpserver: deny /.test(t) ? t : undefined;
    });
    expect(text).toMatch(/^@4[0-9a-f]{23} tcpserver: status: 0\/40\n/m);
    expect(text).toMatch(/^@4[0-9a-f]{23} tcpserver: deny \d+ 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+\n/m);
    const local = run([requireTool("tai64nlocal")], { stdin: text });
    expect(local.code).toBe(0);
    expect(local.out).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} tcpserver: ok \d+ /m);
  });

  test("svc -t restarts serve; a session running across it commits its DELE, nothing else is lost", async () => {
    const before = upPid(service)!;
    const c = await login();
    expect(await c.command("DELE 1")).toStartWith("+OK");
    expect(run([requireTool("svc"), "-t", service]).code).toBe(0);
    const after = await waitFor("a new pid", () => { const p = upPid(service); return p !== undefined && p !== before ? p : undefined; });
    expect(after).not.toBe(before);
    expect(await c.command("QUIT")).toStartWith("+OK");
    c.close();
    const deadline = Date.now() + 10_000;
    let again: Pop3Client | undefined;
    while (!again) {
      try {
        again = await login();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await Bun.sleep(100);
      }
    }
    expect(await again.command("STAT")).toMatch(/^\+OK 2 \d+\r\n$/);
    again.socket.write("TOP 1 0\r\n");
    expect(await again.multi()).toContain("Subject: m");
    expect(await again.command("QUIT")).toStartWith("+OK");
    again.close();
    const left = readdirSync(join(home, "Maildir", "cur")).length + readdirSync(join(home, "Maildir", "new")).length;
    expect(left).toBe(2);
  });

  test("env/PORT (qmail-conf's knob): a new port takes effect after svc -t, the old one is closed", async () => {
    const before = upPid(service)!;
    const newPort = await freePort();
    writeFileSync(join(service, "env", "PORT"), `${newPort}\n`);
    expect(run([requireTool("svc"), "-t", service]).code).toBe(0);
    await waitFor("a new pid", () => { const p = upPid(service); return p !== undefined && p !== before ? p : undefined; });
    const deadline = Date.now() + 10_000;
    let c: Pop3Client | undefined;
    while (!c) {
      try {
        c = await Pop3Client.open(newPort);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await Bun.sleep(100);
      }
    }
    expect(await c.line()).toStartWith("+OK");
    c.close();
    expect(await Pop3Client.open(port).then((old) => { old.close(); return "open"; }, () => "refused")).toBe("refused");
  });
});

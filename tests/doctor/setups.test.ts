/**
 * doctor on the setups poppin conf makes, under Debian's svscan: a pop3s service (the live
 * session over TLS) and an mbox service (the spool, not a Maildir) pass every check; a
 * logger that cannot run its program is reported with the reason; a user database the
 * account of serve -u cannot read is reported (and refused by serve at start), and users
 * --group fixes it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, tempDir, until } from "../helpers.ts";
import { freePort } from "../conf/pop3_client.ts";

const NOBODY = 65534;
const work = tempDir("doctor-setups");
chmodSync(work, 0o755);
const scan = join(work, "service");
let svscan: ChildProcess | undefined;
const services: string[] = [];

function doctor(dir: string, password: string | undefined, env: Record<string, string> = {}) {
  const r = run([POPPIN, "doctor", "--service", dir, ...(password === undefined ? [] : ["demo"])], {
    stdin: password === undefined ? "" : `${password}\n`, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, timeoutMs: 30_000,
  });
  const lines = new Map<string, string>();
  for (const line of r.out.split("\n")) {
    const m = /^([✓✗]) ([a-z-]+): /.exec(Buffer.from(line, "latin1").toString("utf8"));
    if (m) lines.set(m[2]!, Buffer.from(line, "latin1").toString("utf8"));
  }
  return { code: r.code, out: Buffer.from(r.stdout).toString("utf8"), lines };
}

const up = (dir: string) => /: up \(pid \d+\) [1-9]/.test(run([requireTool("svstat"), dir]).out);

/** A virtual user demo/secret (uid nobody) with home `home`, in a user database. */
function userdb(name: string, home: string): string {
  const file = join(work, name);
  expect(run([applet("users"), "-f", file, "add", "demo", String(NOBODY), String(NOBODY), home], { stdin: "secret\n" }).code).toBe(0);
  return `${file}.cdb`;
}

/** conf, then allow 127.0.0.1, then under svscan. */
function makeService(name: string, args: string[], env: Record<string, string>): string {
  const dir = join(work, name);
  expect(run([POPPIN, "conf", ...args.slice(0, -1), dir, "127.0.0.1"]).code).toBe(0);
  for (const [k, v] of Object.entries(env)) writeFileSync(join(dir, "env", k), `${v}\n`);
  expect(run(["./add-client", "127.0.0.1"], { cwd: dir }).code).toBe(0);
  expect(run([requireTool("make")], { cwd: dir }).code).toBe(0);
  symlinkSync(dir, join(scan, name));
  services.push(dir);
  return dir;
}

let pop3s = "";
let mbox = "";

beforeAll(async () => {
  requireTool("svscan");
  mkdirSync(scan);
  // pop3s: a Maildir with one message, a certificate.
  const home = join(work, "home");
  mkdirSync(home);
  expect(run([applet("maildirmake"), join(home, "Maildir")]).code).toBe(0);
  expect(run([applet("deliver"), join(home, "Maildir")], { stdin: "Subject: one\n\nbody\n" }).code).toBe(0);
  expect(run(["chown", "-R", `${NOBODY}:${NOBODY}`, home]).code).toBe(0);
  const cert = join(work, "cert.pem");
  const key = join(work, "key.pem");
  expect(run([requireTool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]).code).toBe(0);
  const db = userdb("users", home);
  pop3s = makeService("pop3s", ["pop3s", "--cert", cert, "--key", key, "--port", String(await freePort()), applet("checkpassword"), "nobody", "DIR"], { POPPIN_USERDB: db });
  // mbox: a spool directory with demo's spool.
  const spools = join(work, "spools");
  mkdirSync(spools);
  chmodSync(spools, 0o1777);
  writeFileSync(join(spools, "demo"), "From a@b Thu Dec  3 05:00:00 2026\nSubject: one\n\nbody\n");
  expect(run(["chown", `${NOBODY}:${NOBODY}`, join(spools, "demo")]).code).toBe(0);
  chmodSync(join(spools, "demo"), 0o600);
  mbox = makeService("mbox", ["pop3d", "--mbox", "--spool-dir", spools, "--port", String(await freePort()), applet("checkpassword"), "nobody", "DIR"], { POPPIN_USERDB: db });
  svscan = spawn(requireTool("svscan"), [scan], { stdio: "ignore" });
  await until("both services and their loggers up", () => services.every((d) => up(d) && up(join(d, "log"))));
}, 60_000);

afterAll(() => {
  for (const dir of services) run([requireTool("svc"), "-dx", dir, join(dir, "log")]);
  svscan?.kill("SIGTERM");
});

describe("doctor on what conf makes", () => {
  test("pop3s: the live session runs over TLS; every check passes", () => {
    const r = doctor(pop3s, "secret");
    expect(r.out).not.toContain("✗");
    expect(r.lines.get("session")).toContain("a POP3S (TLS) session on 127.0.0.1:");
    expect(r.lines.get("session")).toContain("(1 message)");
    expect(r.lines.get("logger")).toMatch(/^✓ logger: the logger \(pid \d+\) stays up\.$/);
    expect(r.code).toBe(0);
  }, 30_000);

  test("mbox: the spool is checked, not a Maildir; every check passes", () => {
    const r = doctor(mbox, "secret");
    expect(r.out).not.toContain("✗");
    expect(r.lines.has("maildir")).toBe(false);
    expect(r.lines.get("spool")).toContain(`${join(work, "spools", "demo")} is demo's mbox spool`);
    expect(r.code).toBe(0);
  }, 30_000);
});

describe("breakages, each with its reason", () => {
  test("a logger that cannot run its program: restarted every second, and why", async () => {
    // The binary in a 0700 directory (a clone under /root): the log account cannot run it.
    const hidden = join(work, "private");
    mkdirSync(hidden, { mode: 0o700 });
    const binary = join(hidden, "poppin");
    copyFileSync(POPPIN, binary);
    chmodSync(binary, 0o755);
    const dir = join(work, "hidden-log");
    expect(run([binary, "conf", "pop3d", "--port", String(await freePort()), applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
    symlinkSync(dir, join(scan, "hidden-log"));
    services.push(dir);
    // svstat's "unable to open supervise/ok" holds "up" too: wait for a real state line.
    await until("its logger started at least once", () => /: (up|down) /.test(run([requireTool("svstat"), join(dir, "log")]).out));
    const r = doctor(dir, undefined);
    expect(r.lines.get("logger")).toMatch(new RegExp(`^✗ logger: supervise restarts the logger in ${dir}/log every second: it cannot run its program \\(.*${binary}.*\\)\\. Fix: `));
    expect(r.code).toBe(1);
  }, 30_000);

  test("a user database the service's account cannot read; users --group makes it readable", () => {
    // serve --inline -u: logins are checked in serve's process, as the mail account.
    const dir = join(work, "inline-u");
    mkdirSync(join(dir, "env"), { recursive: true });
    writeFileSync(join(dir, "run"), `#!/bin/sh\nexec 2>&1\nexec ${POPPIN} envdir ./env ${POPPIN} serve --inline -u ${NOBODY} -g ${NOBODY} -vDHR -x tcp.cdb -- 127.0.0.1 1 ${POPPIN} popup pop.example.org ${POPPIN} checkpassword ${POPPIN} pop3d Maildir\n`);
    chmodSync(join(dir, "run"), 0o755);
    const home = join(work, "qhome");
    mkdirSync(home);
    const db = userdb("qusers", home);
    writeFileSync(join(dir, "env", "POPPIN_USERDB"), `${db}\n`);
    expect(statSync(db).mode & 0o777).toBe(0o600);
    const before = doctor(dir, undefined);
    expect(before.lines.get("userdb-access")).toBe(`✗ userdb-access: uid ${NOBODY}, the account the service runs as, cannot read the user database: ${db} has mode 600, owner 0:0. Fix: give it a group the account is in: poppin users -f ${db.slice(0, -4)} --group GROUP compile (mode 640), or run the service as root.`);
    // serve itself refuses to start with it (checked as root, for the -u account).
    const serve = run([POPPIN, "serve", "--inline", "-u", String(NOBODY), "-g", String(NOBODY), "127.0.0.1", "0", POPPIN, "popup", "h", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: db }, timeoutMs: 5000 });
    expect(serve.code).toBe(111);
    expect(serve.stderr).toContain(`poppin serve: fatal: poppin checkpassword: uid ${NOBODY} (serve -u) cannot read the user database: ${db} has mode 600`);
    const shared = run([POPPIN, "users", "-f", db.slice(0, -4), "--group", "nogroup", "compile"]);
    expect(shared.stderr).toBe("");
    expect(shared.code).toBe(0);
    for (const f of [db, db.slice(0, -4)]) {
      expect(statSync(f).mode & 0o777).toBe(0o640);
      expect(statSync(f).gid).toBe(NOBODY);
    }
    expect(doctor(dir, undefined).lines.get("userdb-access")).toBe(`✓ userdb-access: uid ${NOBODY} (the service's account) can read ${db}.`);
    // A later change keeps the group and mode.
    expect(run([POPPIN, "users", "-f", db.slice(0, -4), "passwd", "demo"], { stdin: "other\n" }).code).toBe(0);
    expect(statSync(db).mode & 0o777).toBe(0o640);
    expect(statSync(db).gid).toBe(NOBODY);
  }, 30_000);
});

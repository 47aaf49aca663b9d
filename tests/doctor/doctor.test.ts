/**
 * poppin doctor against a live service made by qmail-pop3d-conf and run by Debian's
 * supervise: every check passes, then each item is broken on purpose (wrong password,
 * missing Maildir, wrong owner, stale tcp.cdb, denied rule, service down) and doctor
 * shows the ✗ with its fix and exits 1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, renameSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, tempDir, until as untilHolds } from "../helpers.ts";
import { freePort } from "../conf/pop3_client.ts";

const NOBODY = 65534;
const work = tempDir("doctor");
chmodSync(work, 0o755);
const home = join(work, "home");
const maildir = join(home, "Maildir");
const service = join(work, "pop3d");
const userdb = join(work, "users");
const supervisors: ChildProcess[] = [];

function doctor(password: string, ...extra: string[]): { code: number; out: string; lines: Map<string, string> } {
  const r = run([POPPIN, "doctor", "--service", service, ...extra, "demo"], { stdin: `${password}\n`, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 30_000 });
  const out = Buffer.from(r.stdout).toString("utf8");
  const lines = new Map<string, string>();
  for (const line of out.split("\n")) {
    const m = /^([✓✗]) ([a-z-]+): /.exec(line);
    if (m) lines.set(m[2], line);
  }
  return { code: r.code, out, lines };
}

function svstatUp(dir: string): boolean {
  return /: up \(pid \d+\)/.test(run([requireTool("svstat"), dir]).out);
}

const until = (what: string, probe: () => boolean, timeoutMs = 10_000) => untilHolds(what, probe, timeoutMs);

async function listening(port: number): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

let port = 0;

beforeAll(async () => {
  port = await freePort();
  mkdirSync(home);
  expect(run([applet("maildirmake"), maildir]).code).toBe(0);
  expect(run([applet("deliver"), maildir], { stdin: "Subject: hello\n\nbody\n" }).code).toBe(0);
  expect(run(["chown", "-R", `${NOBODY}:${NOBODY}`, home]).code).toBe(0);
  expect(run([applet("users"), "-f", userdb, "add", "demo", String(NOBODY), String(NOBODY), home], { stdin: "right\n" }).code).toBe(0);
  expect(run([applet("qmail-pop3d-conf"), applet("checkpassword"), "nobody", service, "127.0.0.1", "--port", String(port)]).code).toBe(0);
  writeFileSync(join(service, "env", "POPPIN_USERDB"), `${userdb}\n`);
  expect(run(["./add-client", "127.0.0.1"], { cwd: service }).code).toBe(0);
  expect(run([requireTool("make")], { cwd: service }).code).toBe(0);
  // The logger's input stays open, as svscan's pipe from the service keeps it (at its end the logger exits).
  supervisors.push(spawn(requireTool("supervise"), [service], { stdio: "ignore" }));
  supervisors.push(spawn(requireTool("supervise"), [join(service, "log")], { stdio: ["pipe", "ignore", "ignore"] }));
  await until("the service up", () => svstatUp(service) && svstatUp(join(service, "log")));
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) { ok = await listening(port); if (!ok) await Bun.sleep(100); }
  expect(ok).toBe(true);
}, 30_000);

afterAll(async () => {
  run([requireTool("svc"), "-dx", service, join(service, "log")]);
  await Promise.all(supervisors.map((s) => new Promise((r) => { if (s.exitCode !== null) r(null); s.once("exit", r); setTimeout(r, 3000); })));
});

describe("poppin doctor", () => {
  test("a healthy service: every check ✓, exit 0; --json says the same", () => {
    const r = doctor("right");
    expect(r.out).not.toContain("✗");
    expect([...r.lines.keys()]).toEqual(["listener", "rules-allow", "rules-fresh", "config", "user", "home", "maildir", "password", "session", "supervisor", "log", "log-dir", "logger"]);
    expect(r.lines.get("listener")).toMatch(new RegExp(`^✓ listener: port ${port} \\(127\\.0\\.0\\.1\\) is held by pid \\d+ \\(${POPPIN} serve -vDHR`));
    expect(r.lines.get("session")).toContain("USER, PASS, STAT, LIST, TOP and QUIT answered +OK (1 message)");
    // A virtual user owns nothing under its own name: the owner is its uid.
    expect(r.lines.get("maildir")).toBe(`✓ maildir: ${maildir} has cur/, new/ and tmp/, owned by uid ${NOBODY} (demo's), not writable by others.`);
    expect(r.lines.get("log")).toBe(`✓ log: the log is ${service}/log/main/current (read it with tai64nlocal < ${service}/log/main/current).`);
    expect(r.code).toBe(0);
    const j = run([POPPIN, "doctor", "--json", "--service", service, "demo"], { stdin: "right\n", timeoutMs: 30_000 });
    const parsed = JSON.parse(j.out) as { ok: boolean; checks: { id: string; ok: boolean }[] };
    expect(parsed.ok).toBe(true);
    expect(parsed.checks.map((c) => c.id)).toContain("session");
    expect(j.code).toBe(0);
  }, 30_000);

  test("wrong password", () => {
    const r = doctor("wrong");
    expect(r.lines.get("password")).toBe(`✗ password: checkpassword would refuse demo: wrong password or unknown user. Fix: set it again: poppin users -f ${userdb} passwd demo.`);
    expect(r.lines.get("session")).toStartWith("✗ session:");
    expect(r.code).toBe(1);
  }, 30_000);

  test("missing Maildir", () => {
    renameSync(maildir, `${maildir}.away`);
    try {
      const r = doctor("right");
      // demo is a virtual user: setuidgid needs the system account of its uid (setuidgid demo: unknown account).
      expect(r.lines.get("maildir")).toBe(`✗ maildir: ${maildir} does not exist. Fix: run maildirmake ${maildir} as nobody, the account of uid ${NOBODY} (setuidgid nobody maildirmake ${maildir}).`);
      expect(r.code).toBe(1);
    } finally {
      renameSync(`${maildir}.away`, maildir);
    }
  }, 30_000);

  test("wrong owner", () => {
    chownSync(join(maildir, "new"), 0, 0);
    try {
      const r = doctor("right");
      expect(r.lines.get("maildir")).toBe(`✗ maildir: ${maildir}/new is owned by uid 0, not demo's ${NOBODY}. Fix: chown -R ${NOBODY}:${NOBODY} ${maildir} and chmod -R go-w ${maildir}.`);
      expect(r.code).toBe(1);
    } finally {
      chownSync(join(maildir, "new"), NOBODY, NOBODY);
    }
  }, 30_000);

  test("stale tcp.cdb", () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(service, "tcp"), later, later);
    try {
      const r = doctor("right");
      expect(r.lines.get("rules-fresh")).toBe(`✗ rules-fresh: ${service}/tcp was changed after ${service}/tcp.cdb was made, so the change is not in force. Fix: run make in ${service}.`);
      expect(r.code).toBe(1);
    } finally {
      expect(run([requireTool("make")], { cwd: service }).code).toBe(0);
    }
  }, 30_000);

  test("denied rule", () => {
    writeFileSync(join(service, "tcp"), ":deny\n");
    // -B: tcp may carry the same timestamp as the tcp.cdb just made (coarse file times).
    expect(run([requireTool("make"), "-B"], { cwd: service }).code).toBe(0);
    try {
      const r = doctor("right");
      expect(r.lines.get("rules-allow")).toBe(`✗ rules-allow: ${service}/tcp.cdb denies 127.0.0.1 (rule ""). Fix: run ./add-client 127.0.0.1 and then make in ${service}.`);
      expect(r.lines.get("session")).toBe(`✗ session: a POP3 session on 127.0.0.1:${port} failed: the server closed the connection (or was silent) at greeting. Fix: fix the rules-allow check above first.`);
      expect(r.code).toBe(1);
    } finally {
      writeFileSync(join(service, "tcp"), ":deny\n127.0.0.1:allow\n");
      expect(run([requireTool("make"), "-B"], { cwd: service }).code).toBe(0);
    }
  }, 30_000);

  test("a mistyped --service or --port: one line naming it, exit 100, no cascade of ✗", () => {
    const missing = join(work, "pop3-typo");
    const r = run([POPPIN, "doctor", "--service", missing, "joe"], { stdin: "" });
    expect(r.stderr).toBe(`poppin doctor: fatal: unable to read service directory ${missing}: file does not exist\n`);
    expect(r.out).toBe("");
    expect(r.code).toBe(100);
    const port = run([POPPIN, "doctor", "--port", "abc"]);
    expect(port.stderr).toStartWith("poppin doctor: usage: bad port abc\n");
    expect(port.code).toBe(100);
    expect(run([POPPIN, "doctor", "--rules"]).stderr).toStartWith("poppin doctor: usage: --rules needs a value\n");
  });

  test("a user database that does not exist: named once, and the fix is the name, not permissions", () => {
    const typo = join(work, "usres.cdb");
    const r = run([POPPIN, "doctor", "--json", "--port", "1", "--userdb", typo, "demo"], { stdin: "" });
    const user = (JSON.parse(r.out) as { checks: { id: string; ok: boolean; detail: string; fix: string }[] }).checks.find((c) => c.id === "user")!;
    expect(user.ok).toBe(false);
    expect(user.detail).toBe(`the user database ${typo} cannot be read: file does not exist.`);
    expect(user.fix).toBe(`check the name (POPPIN_USERDB, --userdb), or make it with poppin users -f ${typo} add demo UID GID HOME.`);
    expect(r.code).toBe(1);
  });

  test("service down", async () => {
    expect(run([requireTool("svc"), "-d", service]).code).toBe(0);
    await until("the service down", () => !svstatUp(service));
    try {
      const r = doctor("right");
      expect(r.lines.get("listener")).toBe(`✗ listener: nothing listens on port ${port}. Fix: start the service (svc -u DIR, or systemctl start NAME.socket) and look at its log for why it stopped.`);
      expect(r.lines.get("supervisor")).toMatch(new RegExp(`^✗ supervisor: svstat: down \\d+ seconds, normally up\\. Fix: start it with svc -u ${service} and read ${service}/log/main/current for why it stopped\\.$`));
      expect(r.code).toBe(1);
    } finally {
      expect(run([requireTool("svc"), "-u", service]).code).toBe(0);
      await until("the service up again", () => svstatUp(service));
    }
  }, 30_000);
});

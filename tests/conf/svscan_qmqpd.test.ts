/**
 * A service made by qmail-qmqpd-conf (ours, unedited) under Debian's svscan/supervise with
 * two real local users made here by useradd: one request to both is accepted, each copy
 * lands in its owner's Maildir owned by that owner, the Received line names the host given
 * to conf, and while a request is being read the network side runs as the QMQPD account
 * (nobody) with only its helper as root. Root and users below the uid floor get no mail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { qmqpRequest, qmqpSend } from "../qmqp/client.ts";
import { freePort } from "./pop3_client.ts";

const NOBODY = 65534;
const work = tempDir("conf-qmqpd");
chmodSync(work, 0o755);
const service = join(work, "qmqpd");
const scan = join(work, "service");
const tag = `pq${process.pid % 100000}`;
const users = [`${tag}a`, `${tag}b`];
const made: string[] = [];
let port = 0;
let svscan: ChildProcess | undefined;

function svstat(dir: string): string {
  return run([requireTool("svstat"), dir]).out;
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

function uidOf(name: string): number {
  return Number(run(["id", "-u", name]).out.trim());
}

function maildirOf(name: string): string {
  return join(work, "home", name, "Maildir");
}

interface Proc { pid: number; uid: number; cmd: string }

/** The children of `parent`, from /proc. */
function childrenOf(parent: number): Proc[] {
  const out: Proc[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "latin1");
      if (Number(/^PPid:\s+(\d+)/m.exec(status)![1]) !== parent) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
      out.push({ pid: Number(pid), uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]), cmd });
    } catch { /* gone */ }
  }
  return out;
}

beforeAll(async () => {
  for (const tool of ["svscan", "supervise", "svstat", "svc", "make", "useradd", "userdel"]) requireTool(tool);
  port = await freePort();
  mkdirSync(join(work, "home"));
  chmodSync(join(work, "home"), 0o755);
  for (const name of users) {
    const home = join(work, "home", name);
    const r = run([requireTool("useradd"), "-m", "-d", home, "-s", "/usr/sbin/nologin", "-K", "UID_MIN=20000", name]);
    expect(r.stderr).toBe("");
    made.push(name);
    chmodSync(home, 0o700);
    expect(run([applet("setuidgid"), name, applet("maildirmake"), maildirOf(name)]).code).toBe(0);
  }
  const conf = run([applet("qmail-qmqpd-conf"), "nobody", "nobody", service, "127.0.0.1", "--port", String(port), "--host", "mx.svscan.example"]);
  expect(conf.stderr).toBe("");
  expect(conf.code).toBe(0);
  expect(run(["./add-client", "127.0.0.1"], { cwd: service }).code).toBe(0);
  expect(run([requireTool("make")], { cwd: service }).code).toBe(0);
  mkdirSync(scan);
  symlinkSync(service, join(scan, "qmqpd"));
  svscan = spawn(requireTool("svscan"), [scan], { stdio: "ignore" });
  await waitFor("svstat up", () => /: up /.test(svstat(service)) && /: up /.test(svstat(join(service, "log"))));
  await waitFor("serve listening", () => existsSync(join(service, "log", "main", "current")) && /tcpserver: status: 0\//.test(readFileSync(join(service, "log", "main", "current"), "latin1")));
}, 30_000);

afterAll(async () => {
  run([requireTool("svc"), "-dx", service, join(service, "log")]);
  svscan?.kill("SIGTERM");
  for (const name of made) run([requireTool("userdel"), "-r", name]);
});

describe("qmail-qmqpd-conf service under svscan, two real local users", () => {
  test("one request to both users: K, each copy owned by its user, Received names the host", async () => {
    const answer = await qmqpSend(port, qmqpRequest("Subject: to both\n\nhello\n", "sender@example.org", users.map((u) => `${u}@mx.svscan.example`)));
    expect(answer).toMatch(/^Kok \d+ qp \d+$/);
    for (const name of users) {
      const dir = join(maildirOf(name), "new");
      const names = readdirSync(dir);
      expect(names.length).toBe(1);
      const st = statSync(join(dir, names[0]));
      expect(st.uid).toBe(uidOf(name));
      expect(readFileSync(join(dir, names[0]), "latin1")).toMatch(
        new RegExp(`^Return-Path: <sender@example\\.org>\\nDelivered-To: ${name}@mx\\.svscan\\.example\\nReceived: from unknown \\(127\\.0\\.0\\.1\\)\\n  by mx\\.svscan\\.example with QMQP; .*\\nSubject: to both\\n\\nhello\\n$`),
      );
    }
  });

  test("while a request is read, the network side is the QMQPD account and only the helper is root", async () => {
    const s = connect({ port, host: "127.0.0.1" });
    await new Promise<void>((resolve, reject) => { s.once("connect", () => resolve()); s.once("error", reject); });
    s.write("100:");
    try {
      const serve = Number(/: up \(pid (\d+)\)/.exec(svstat(service))![1]);
      // It starts as root, starts its helper, then drops before reading: wait for the drop.
      const network = await waitFor("qmqpd under serve as nobody", () => childrenOf(serve).find((p) => / qmqpd$/.test(p.cmd) && p.uid === NOBODY), 5000);
      const helper = await waitFor("qmqpd's helper", () => childrenOf(network.pid).find((p) => p.cmd.endsWith("qmqpd --local-helper")));
      expect(helper.uid).toBe(0);
      // Not dumpable: its /proc files stay root's, so other processes of the account cannot read its memory.
      expect(statSync(`/proc/${network.pid}/mem`).uid).toBe(0);
      const peek = run([applet("setuidgid"), "nobody", "/bin/cat", `/proc/${network.pid}/environ`]);
      expect(peek.code).not.toBe(0);
      expect(peek.stderr).toContain("Permission denied");
      expect(childrenOf(serve).filter((p) => / qmqpd$/.test(p.cmd)).map((p) => p.uid)).toEqual([NOBODY]);
    } finally {
      s.destroy();
    }
  });

  test("root and unknown users are refused with qmail's D; nothing delivered", async () => {
    expect(await qmqpSend(port, qmqpRequest("x\n", "s@x", ["root@mx.svscan.example"]))).toBe("Dsorry, no mailbox here by that name. (#5.1.1)");
    expect(await qmqpSend(port, qmqpRequest("x\n", "s@x", [`${users[0]}@x`, `${tag}-nobody-here@x`]))).toBe("Dsorry, no mailbox here by that name. (#5.1.1)");
    expect(readdirSync(join(maildirOf(users[0]), "new")).length).toBe(1);
  });

  test("the log has one line per request, with the answer", async () => {
    const current = join(service, "log", "main", "current");
    const text = await waitFor("qmqpd lines", () => {
      const t = readFileSync(current, "latin1");
      return (t.match(/qmqpd: info: /g) ?? []).length >= 3 ? t : undefined;
    });
    expect(text).toMatch(new RegExp(`^@4[0-9a-f]{23} poppin qmqpd: info: K from=<sender@example\\.org> to=<${users[0]}@mx\\.svscan\\.example>,<${users[1]}@mx\\.svscan\\.example> size=\\d+: ok `, "m"));
    expect(text).not.toMatch(/Zsorry/);
  });
});

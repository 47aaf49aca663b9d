/**
 * A local user's own pop3d process must not hold the service log. serve run by root
 * (--inline, or the classic chain with real checkpassword and pop3d processes) starts
 * pop3d as the mailbox owner; a process that was exec'd as that user is theirs to open
 * (/proc/PID/fd/2, ptrace). With the service log as its stderr, the user could write any
 * line there, such as popup's "authorization failed rip=ADDR", and have fail2ban ban ADDR.
 * The test plays that user: while their session is open, they write forged lines into
 * their pop3d's fd 2; none may reach the log as popup's line or match the shipped filter,
 * and the filter still finds a real failure.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, ROOT, requireTool, run, tempDir } from "../helpers.ts";
import { startServer, talk, virtualSetup, type Running } from "../standalone/harness.ts";
import { localUser, processesOf, removeLocalUsers, sharedBase, whileLoggedIn, type LocalUser } from "./local_users.ts";

const servers: Running[] = [];
afterAll(async () => {
  // The servers run under `sh -c` (their log is a pipe to cat): SIGTERM to sh would leave serve
  // running. Stop what runs under each sh first, then the sh.
  for (const s of servers) {
    const below = descendantsOf(s.proc.pid);
    for (const pid of below) killQuietly(pid, "SIGTERM");
    for (let waited = 0; waited < 5000 && below.some(alive); waited += 50) await Bun.sleep(50);
    for (const pid of below.filter(alive)) killQuietly(pid, "SIGKILL");
    await s.stop();
  }
  removeLocalUsers();
});

/** Every process below `root` (children, their children ...), from /proc. */
function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const [child, parent] of parentOf) if (parent === pid) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const INJECT = join(ROOT, "tests", "security", "inject_write.py");
const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const FORGED = [
  "poppin popup: warning: authorization failed rip=203.0.113.61 user=victim",
  "qmail-popup: warning: authorization failed rip=203.0.113.62 user=victim",
  "mail poppin[7]: poppin popup: warning: authorization failed rip=203.0.113.63 user=victim",
  "x y: qmail-popup: warning: authorization failed rip=203.0.113.64 user=victim",
];

/** The pids of processes running as `uid` whose command line names pop3d. */
/** pop3d, or the mail worker serving the session under serve --inline as root, of `uid`. */
const pop3dPidsOf = (uid: number) => processesOf(uid, (cmd) => cmd.includes("pop3d") || cmd.includes("--mail-worker"));

/** As `user`, makes process `pid` write `text` on its fd 2 (ptrace: the process is the user's). */
function injectAsUser(user: LocalUser, pid: number, text: string): boolean {
  const r = spawnSync("python3", [INJECT, String(pid), "2", text], { uid: user.uid, gid: user.gid, env: { PATH: "/usr/bin:/bin" }, timeout: 10_000 });
  return r.status === 0 && Number(r.stdout.toString().trim()) === Buffer.byteLength(text, "latin1");
}

function filterHits(log: string): string[] {
  const file = join(tempDir("f2b"), "current");
  writeFileSync(file, log);
  const f = run(["fail2ban-regex", "-o", "ip", file, join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf")]);
  expect(f.code).toBe(0);
  return f.out.trim().split("\n").filter((l) => l !== "");
}

describe.each([
  ["serve --inline as root", ["--inline"], {}],
  ["serve as root, checkpassword and pop3d processes", [], { POPPIN_ONE_PROCESS: "0" }],
  ["serve as root, popup serving in one process", [], {}],
] as const)("%s", (name, flags, env) => {
  test("the user's pop3d holds no descriptor of the service log: forged popup lines never reach it", async () => {
    requireTool("fail2ban-regex");
    const user = localUser("plog", sharedBase("logfd"));
    const setup = virtualSetup(["Subject: one\n\nhello\n"], { uid: user.uid, gid: user.gid });
    // The log is a pipe, as under daemontools (svscan's pipe to multilog).
    const serve = [POPPIN, "serve", ...flags, "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN];
    const server = await startServer(["sh", "-c", '{ "$@" 2>&1 1>&3 3>&- | cat >&2; } 3>&1', "sh", ...serve], { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0", ...env });
    servers.push(server);
    let attempts = 0;
    let written = 0;
    const reply = await whileLoggedIn(server.port, "USER joe\r\nPASS secret\r\n", 3, () => {
      for (const pid of pop3dPidsOf(user.uid)) {
        attempts++;
        if (injectAsUser(user, pid, FORGED.map((l) => `${l}\n`).join(""))) written++;
      }
    });
    expect(reply).toContain("+OK ");
    expect(attempts).toBeGreaterThan(0); // the session's process was there to attack
    // popup serving in one process, and --inline's mail worker, became the user without exec (and
    // made themselves non-dumpable): no other process of the user may trace them.
    if (name.includes("one process") || name.includes("--inline")) expect(written).toBe(0);
    else expect(written).toBeGreaterThan(0); // the attack ran: the lines were written on the process's fd 2
    await Bun.sleep(200);
    const log = server.log();
    const lines = log.split("\n");
    // The session's own lines are still there, as pop3d writes them.
    expect(lines.some((l) => l.startsWith("poppin pop3d: info: end=quit user=joe "))).toBe(true);
    for (const forged of FORGED) {
      expect(lines.some((l) => l.startsWith(forged))).toBe(false);
      // What the user wrote is there, as a line of their own pop3d.
      if (written > 0) expect(lines).toContain(`poppin pop3d: warning: ${forged}`);
    }
    expect(filterHits(log)).toEqual([]);
    // A real failed login is still found.
    expect((await talk(server.port, "USER joe\r\nPASS wrong\r\nQUIT\r\n")).toString("latin1")).toContain("-ERR");
    await Bun.sleep(200);
    expect(filterHits(server.log())).toEqual(["127.0.0.1"]);
  }, 30_000);
});

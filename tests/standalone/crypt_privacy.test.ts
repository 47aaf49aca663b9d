/**
 * serve --inline's password-checking helpers (crypt_r off the event loop): passwords and
 * hashes pass through them, so no process of another daemon may read them. They run with
 * serve's own uid (root as root, never the shared nobody) and are non-dumpable from before
 * their first request: a process running as nobody can neither ptrace them nor read their
 * /proc/PID/mem or environ, and the kernel owns their /proc files as root.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, talk, virtualSetup, type Running } from "./harness.ts";
import { asNobody } from "../security/as_nobody.ts";

const setup = virtualSetup(["Subject: x\n\nx\n"]);
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

function helpersOf(serverPid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === serverPid && readFileSync(`/proc/${name}/cmdline`, "latin1").includes("--crypt-helper")) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}


for (const mode of ["root", "-u nobody"] as const) {
  test(`helpers are unreadable by a process running as nobody: serve as ${mode}`, async () => {
    const dropTo = mode === "root" ? [] : ["-u", String(MAIL_UID), "-g", String(MAIL_GID)];
    const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", ...dropTo, "127.0.0.1", "0", ...chain],
      { POPPIN_USERDB: setup.userdb, POPPIN_STOP_SECONDS: "0" });
    servers.push(s);
    expect((await talk(s.port, "USER joe\r\nPASS wrong\r\nQUIT\r\n")).toString()).toContain("-ERR [AUTH]");
    const helpers = helpersOf(s.proc.pid);
    expect(helpers.length).toBeGreaterThan(0);
    for (const pid of helpers) {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))![1]);
      expect(uid).toBe(mode === "root" ? 0 : MAIL_UID);
      // Non-dumpable: the kernel owns the process's /proc files as root, whatever its uid.
      expect(statSync(`/proc/${pid}/environ`).uid).toBe(0);
      expect(await asNobody(pid)).toBe("mem:Permission denied environ:Permission denied ptrace:Operation not permitted");
    }
    // serve itself (it holds the passwords first) is just as closed.
    expect(statSync(`/proc/${s.proc.pid}/environ`).uid).toBe(0);
    expect(await asNobody(s.proc.pid)).toBe("mem:Permission denied environ:Permission denied ptrace:Operation not permitted");
    // And the helpers still check passwords.
    expect((await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString()).toContain("+OK 1 ");
  }, 20_000);
}

test("a helper started under a tracer (attached before it could close itself) refuses to read any password", () => {
  // One request: id 1, password "pw", setting "$1$salt$"; an untraced helper answers it.
  const request = Buffer.concat([Buffer.from([1, 0, 0, 0, 2, 0, 8, 0]), Buffer.from("pw$1$salt$")]);
  const plain = Bun.spawnSync([POPPIN, "serve", "--crypt-helper"], { stdin: request });
  expect(plain.exitCode).toBe(0);
  expect(plain.stdout.length).toBeGreaterThan(6);
  const traced = Bun.spawnSync(["strace", "-o", "/dev/null", POPPIN, "serve", "--crypt-helper"], { stdin: request });
  expect(traced.exitCode).toBe(111);
  expect(traced.stdout.length).toBe(0);
  expect(traced.stderr.toString()).toMatch(/^poppin serve: fatal: crypt helper: traced by pid \d+, refusing to handle passwords\n$/);
});

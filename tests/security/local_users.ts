/**
 * Real local accounts for tests that play a hostile local user against a privileged
 * poppin (the tests run as root): useradd'ed with a home under a world-traversable
 * temporary directory. Each test file removes the accounts it made with
 * `afterAll(removeLocalUsers)` (this module is loaded once per run, so an afterAll here
 * would belong to the first file only).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { POPPIN, run, tempDir } from "../helpers.ts";

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const created: string[] = [];

/** userdel's every account localUser made so far. */
export function removeLocalUsers(): void {
  for (const name of created.splice(0)) Bun.spawnSync(["userdel", "-f", name]);
}

/** A directory every user may traverse and read (tempDir() makes them 0700, root's). */
export function sharedBase(label: string): string {
  const dir = tempDir(label);
  chmodSync(dir, 0o755);
  return dir;
}

/** A new account `PREFIX` + random suffix, with a home (0755, its own) in `base`. */
export function localUser(prefix: string, base: string): LocalUser {
  const name = `${prefix}${randomBytes(3).toString("hex")}`;
  const home = join(base, name);
  const add = run(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-U", name]);
  if (add.code !== 0) throw new Error(`useradd ${name}: ${add.stderr}`);
  created.push(name);
  const id = (flag: string) => Number(run(["id", flag, name]).out.trim());
  const user = { name, uid: id("-u"), gid: id("-g"), home };
  mkdirSync(home, { mode: 0o755 });
  chmodSync(home, 0o755);
  chownSync(home, user.uid, user.gid);
  return user;
}

export interface AsUserResult {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `argv` as `user` (uid, gid, USER, HOME, cwd = home), `input` on stdin. */
export function asUser(user: LocalUser, argv: string[], input = "", env: Record<string, string> = {}): AsUserResult {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    uid: user.uid, gid: user.gid, cwd: user.home, input: Buffer.from(input, "latin1"), timeout: 30_000,
    env: { PATH: "/usr/bin:/bin", USER: user.name, HOME: user.home, ...env },
  });
  return { code: r.status, out: r.stdout?.toString("latin1") ?? "", err: r.stderr?.toString("latin1") ?? "" };
}

/** Writes `content` to `path` as `user` (the file is theirs), then chmods it. */
export function plantAs(user: LocalUser, path: string, content: string | Uint8Array, mode = 0o644): void {
  const r = spawnSync("sh", ["-c", 'cat > "$1" && chmod "$2" "$1"', "sh", path, mode.toString(8)], {
    uid: user.uid, gid: user.gid, input: typeof content === "string" ? Buffer.from(content, "latin1") : content, env: { PATH: "/usr/bin:/bin" },
  });
  if (r.status !== 0) throw new Error(`planting ${path} as ${user.name}: ${r.stderr}`);
}

/** Makes a symbolic link `path` -> `target` as `user`. */
export function symlinkAs(user: LocalUser, target: string, path: string): void {
  const r = spawnSync("ln", ["-s", target, path], { uid: user.uid, gid: user.gid, env: { PATH: "/usr/bin:/bin" } });
  if (r.status !== 0) throw new Error(`ln -s as ${user.name}: ${r.stderr}`);
}

/** One pop3d session as `user` with all `commands` at once. */
export function pop3dAs(user: LocalUser, args: string[], commands: string): AsUserResult {
  return asUser(user, [POPPIN, "pop3d", ...args], commands);
}

/** A rewrite journal in the format earlier versions wrote (and still replay): "ready", P N E and the spool's inode, then the N octets. */
export function plantedJournal(p: number, e: number, ino: number, data: string): string {
  return `PMJ1 ready   ${p} ${data.length} ${e} ${ino}`.padEnd(63) + "\n" + data;
}

/** The processes whose real uid is `uid` (and whose command line passes `match`, when given). */
export function processesOf(uid: number, match?: (cmdline: string) => boolean): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const real = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "latin1"))?.[1];
      if (Number(real) !== uid) continue;
      if (match === undefined || match(readFileSync(`/proc/${p}/cmdline`, "latin1"))) pids.push(Number(p));
    } catch { /* gone */ }
  }
  return pids;
}

/**
 * Opens a session, sends `commands` once the greeting is in, runs `during` once `answers`
 * +OK lines have come (the session is then served by the user's process), then QUITs.
 * Resolves with everything the server answered.
 */
export async function whileLoggedIn(port: number, commands: string, answers: number, during: () => void): Promise<string> {
  const sock = net.connect({ host: "127.0.0.1", port });
  let got = "";
  sock.on("data", (d) => { got += d.toString("latin1"); });
  const waitFor = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while ((got.match(/\+OK/g) ?? []).length < n) {
      if (Date.now() > deadline) throw new Error(`no +OK #${n}: ${got}`);
      await Bun.sleep(20);
    }
  };
  await waitFor(1);
  sock.write(commands);
  await waitFor(answers);
  during();
  sock.write("QUIT\r\n");
  await new Promise((r) => sock.on("close", r));
  return got;
}

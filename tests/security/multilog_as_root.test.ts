/**
 * `poppin log` (multilog) run as root on a log directory another account owns (a log/run
 * without setuidgid, a directory given to the log account): that account plants links at
 * the names multilog opens (`current`, `lock`), so that root appends service
 * log lines, which carry client-chosen text, to a root file (a cron script), changes its
 * mode, or creates a file where the link points. Played by a real second local user.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { asUser, localUser, removeLocalUsers, sharedBase, symlinkAs, type LocalUser } from "./local_users.ts";

afterAll(removeLocalUsers);

const SCRIPT = "#!/bin/sh\necho daily\n";
const LINE = "poppin popup: warning: authorization failed rip=192.0.2.7 user=$(id>/tmp/owned)\n";

function setting(label: string): { user: LocalUser; main: string; script: string; rootDir: string } {
  const base = sharedBase(label);
  const user = localUser("plg", base);
  const main = join(user.home, "main");
  mkdirSync(main, { mode: 0o755 });
  chownSync(main, user.uid, user.gid);
  const rootDir = tempDir(`${label}-root`);
  const script = join(rootDir, "cron-daily");
  writeFileSync(script, SCRIPT, { mode: 0o755 });
  return { user, main, script, rootDir };
}

function scriptUnchanged(script: string): void {
  expect(readFileSync(script, "latin1")).toBe(SCRIPT);
  expect(statSync(script).mode & 0o7777).toBe(0o755);
}

describe("multilog as root in a directory of another account's", () => {
  test("current a link to a root script (mode 755, a clean stop to multilog): no line appended, mode kept; the log goes on in a new current", () => {
    const s = setting("mlog-current");
    symlinkAs(s.user, s.script, join(s.main, "current"));
    const r = run([POPPIN, "log", "t", s.main], { stdin: LINE });
    scriptUnchanged(s.script);
    expect(r.code).toBe(0);
    const current = lstatSync(join(s.main, "current"));
    expect(current.isFile()).toBe(true);
    expect(readFileSync(join(s.main, "current"), "latin1")).toContain("user=$(id>/tmp/owned)");
  });

  test("lock a link to a missing root path: nothing is created there", () => {
    const s = setting("mlog-lock");
    const target = join(s.rootDir, "nologin");
    symlinkAs(s.user, target, join(s.main, "lock"));
    const r = run([POPPIN, "log", "t", s.main], { stdin: LINE });
    expect(existsSync(target)).toBe(false);
    expect(r.code).toBe(111);
  });

  test("the log directory a link the other account made to a root directory: refused, nothing created there", () => {
    const s = setting("mlog-dirlink");
    const link = join(s.user.home, "linked");
    symlinkAs(s.user, s.rootDir, link);
    const r = run([POPPIN, "log", "t", link], { stdin: LINE });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("symbolic link");
    expect(readdirSync(s.rootDir)).toEqual(["cron-daily"]);
  });

  test("the log directory renamed and replaced by a link while multilog runs: rotations stay in the directory opened", async () => {
    const s = setting("mlog-swap");
    const proc = Bun.spawn([POPPIN, "log", "s4096", s.main], { stdin: "pipe", stdout: "ignore", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } });
    proc.stdin.write("first\n");
    await proc.stdin.flush();
    for (let i = 0; i < 300 && !existsSync(join(s.main, "current")); i++) await Bun.sleep(10);
    const swap = asUser(s.user, ["sh", "-c", 'mv "$1" "$1.old" && ln -s "$2" "$1"', "sh", s.main, s.rootDir]);
    expect(swap.code).toBe(0);
    proc.stdin.write("x".repeat(99) + "\n".repeat(1) + (LINE).repeat(100));
    proc.stdin.end();
    const code = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "stuck")]);
    if (code === "stuck") proc.kill(9);
    expect(readdirSync(s.rootDir)).toEqual(["cron-daily"]);
    expect(code).toBe(0);
    const kept = readdirSync(`${s.main}.old`);
    expect(kept.filter((n) => n.startsWith("@")).length).toBeGreaterThan(0);
    expect(readFileSync(join(`${s.main}.old`, "current"), "latin1").length).toBeGreaterThan(0);
  });

  test("an =status file a link to a root script: its first 1001 bytes are not overwritten", () => {
    const s = setting("mlog-status");
    const status = join(s.main, "status");
    symlinkAs(s.user, s.script, status);
    const r = run([POPPIN, "log", "-*", "+*authorization*", `=${status}`], { stdin: LINE });
    scriptUnchanged(s.script);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("symbolic link");
  });

  // Hard links: made here by root, as the account could where fs.protected_hardlinks is off (or
  // to a root file it may read and write). The root file lives in the account's home: same file system.
  function hardLinked(s: { user: LocalUser }, name: string, text: string, mode: number): string {
    const rootFile = join(s.user.home, `root-${name}`);
    writeFileSync(rootFile, text, { mode });
    return rootFile;
  }

  test("current a hard link to a root script (mode 755, a clean stop to multilog): no line appended, mode kept; the log goes on in a new current", () => {
    const s = setting("mlog-hard-current");
    const rootFile = hardLinked(s, "cron", SCRIPT, 0o755);
    linkSync(rootFile, join(s.main, "current"));
    const r = run([POPPIN, "log", "t", s.main], { stdin: LINE });
    scriptUnchanged(rootFile);
    expect(r.code).toBe(0);
    const current = lstatSync(join(s.main, "current"));
    expect(current.nlink).toBe(1);
    expect(readFileSync(join(s.main, "current"), "latin1")).toContain("user=$(id>/tmp/owned)");
  });

  test("state a hard link to a root-only file, read by the processor at a rotation: its text never reaches a file the account can read", () => {
    const s = setting("mlog-hard-state");
    const SECRET = "root:$6$secret-hash:19000:0:99999:7:::\n";
    const rootFile = hardLinked(s, "shadow", SECRET, 0o600);
    // A cleanly stopped current (mode 744), so multilog keeps state as it is at the start.
    writeFileSync(join(s.main, "current"), "", { mode: 0o744 });
    chownSync(join(s.main, "current"), s.user.uid, s.user.gid);
    linkSync(rootFile, join(s.main, "state"));
    // The usual processor shape: state in on fd 4, carried to newstate on fd 5.
    const r = run([POPPIN, "log", "s4096", "!cat <&4 >&5; cat", s.main], { stdin: "x".repeat(200) + "\n" + LINE.repeat(60) });
    expect(readFileSync(rootFile, "latin1")).toBe(SECRET);
    for (const name of readdirSync(s.main)) {
      const path = join(s.main, name);
      if (lstatSync(path).isFile()) expect(readFileSync(path, "latin1")).not.toContain("secret-hash");
    }
    expect(r.code).not.toBeNull();
  });

  test("an =status file a hard link to a root script: its first 1001 bytes are not overwritten", () => {
    const s = setting("mlog-hard-status");
    const rootFile = hardLinked(s, "cron", SCRIPT, 0o755);
    const status = join(s.main, "status");
    linkSync(rootFile, status);
    const r = run([POPPIN, "log", "-*", "+*authorization*", `=${status}`], { stdin: LINE });
    scriptUnchanged(rootFile);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("2 links");
  });

  test("root's own log directory works as before", () => {
    const dir = join(tempDir("mlog-own"), "main");
    const r = run([POPPIN, "log", "t", dir], { stdin: "one\ntwo\n" });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "current"), "latin1")).toMatch(/^@[0-9a-f]{24} one\n@[0-9a-f]{24} two\n$/);
    expect(lstatSync(join(dir, "current")).mode & 0o777).toBe(0o744);
  });
});

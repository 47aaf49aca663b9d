/**
 * `poppin log` (multilog) run as root on a log directory another account owns (a log/run
 * without setuidgid, a directory given to the log account): that account plants links at
 * the names multilog opens (`current`, `lock`), so that root appends service
 * log lines, which carry client-chosen text, to a root file (a cron script), changes its
 * mode, or creates a file where the link points. Played by a real second local user.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { localUser, removeLocalUsers, sharedBase, symlinkAs, type LocalUser } from "./local_users.ts";

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

  test("root's own log directory works as before", () => {
    const dir = join(tempDir("mlog-own"), "main");
    const r = run([POPPIN, "log", "t", dir], { stdin: "one\ntwo\n" });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "current"), "latin1")).toMatch(/^@[0-9a-f]{24} one\n@[0-9a-f]{24} two\n$/);
    expect(lstatSync(join(dir, "current")).mode & 0o777).toBe(0o744);
  });
});

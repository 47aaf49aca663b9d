/**
 * Root compiling a cdb (`rules compile` / tcprules, `users`) in a directory another account can
 * write in: the virtual-user file kept in the shared mail account's directory (/var/vmail/users,
 * owned by vmail, whose processes serve every virtual user), or rules in a service directory
 * handed to a service account. That account plants links at the names root writes or chowns
 * (the temporary file, FILE.lock, FILE.cdb) to get root to overwrite, create, or give away a
 * file of root's. Each attack is played by a real second local user.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cdbLikeText, shareWithGroup } from "../../mod/auth/user_store.ts";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { localUser, plantAs, removeLocalUsers, sharedBase, symlinkAs, type LocalUser } from "./local_users.ts";

afterAll(removeLocalUsers);

const ROOT_TEXT = "root:$y$j9T$secret-hash:19000:0:99999:7:::\n";

/** A directory owned by `user` (0755, not sticky), and a root-only file elsewhere. */
function setting(label: string): { user: LocalUser; dir: string; rootFile: string; rootDir: string } {
  const base = sharedBase(label);
  const user = localUser("pcd", base);
  const dir = join(user.home, "db");
  mkdirSync(dir, { mode: 0o755 });
  chownSync(dir, user.uid, user.gid);
  const rootDir = tempDir(`${label}-root`);
  const rootFile = join(rootDir, "shadow");
  writeFileSync(rootFile, ROOT_TEXT, { mode: 0o600 });
  return { user, dir, rootFile, rootDir };
}

function unchanged(file: string): void {
  const st = statSync(file);
  expect(readFileSync(file, "latin1")).toBe(ROOT_TEXT);
  expect(st.uid).toBe(0);
  expect(st.mode & 0o7777).toBe(0o600);
}

function addUser(file: string) {
  return run([POPPIN, "users", "-f", file, "add", "joe", "2000", "2000", "/home/joe"], { stdin: "secret\nsecret\n" });
}

describe("rules compile as root in another account's directory", () => {
  test("a link at the temporary name: the root file is not overwritten, the cdb is not made", () => {
    const s = setting("cdb-rules-link");
    symlinkAs(s.user, s.rootFile, join(s.dir, "pop3.tmp"));
    const r = run([POPPIN, "rules", "compile", join(s.dir, "pop3.cdb"), join(s.dir, "pop3.tmp")], { stdin: "127.0.0.1:allow\n" });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("pop3.tmp");
    unchanged(s.rootFile);
    expect(existsSync(join(s.dir, "pop3.cdb"))).toBe(false);
  });

  test("a hard link at the temporary name (made where protected_hardlinks is off) is not truncated", () => {
    const s = setting("cdb-rules-hard");
    // Same file system: the link lives in the user's directory.
    const rootFile = join(s.user.home, "root-owned");
    writeFileSync(rootFile, ROOT_TEXT, { mode: 0o600 });
    linkSync(rootFile, join(s.dir, "pop3.tmp"));
    const r = run([POPPIN, "rules", "compile", join(s.dir, "pop3.cdb"), join(s.dir, "pop3.tmp")], { stdin: "127.0.0.1:allow\n" });
    expect(r.code).toBe(111);
    unchanged(rootFile);
  });

  test("a temporary file of the other account's is not written (root's own leftover still is)", () => {
    const s = setting("cdb-rules-theirs");
    plantAs(s.user, join(s.dir, "pop3.tmp"), "x", 0o666);
    const r = run([POPPIN, "rules", "compile", join(s.dir, "pop3.cdb"), join(s.dir, "pop3.tmp")], { stdin: "127.0.0.1:allow\n" });
    expect(r.code).toBe(111);
    expect(existsSync(join(s.dir, "pop3.cdb"))).toBe(false);
    // A leftover of root's (an interrupted run) is reused, as tcprules does.
    const own = tempDir("cdb-rules-own");
    writeFileSync(join(own, "pop3.tmp"), "leftover");
    const ok = run([POPPIN, "rules", "compile", join(own, "pop3.cdb"), join(own, "pop3.tmp")], { stdin: "127.0.0.1:allow\n" });
    expect(ok.code).toBe(0);
    expect(run([POPPIN, "rules", "check", join(own, "pop3.cdb"), "127.0.0.1"]).out).toContain("allow");
  });
});

describe("users as root in another account's directory", () => {
  test("FILE.lock a link to a missing root path: root creates nothing there", () => {
    const s = setting("cdb-users-lock");
    const target = join(s.rootDir, "nologin");
    symlinkAs(s.user, target, join(s.dir, "users.lock"));
    const r = addUser(join(s.dir, "users"));
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("users.lock");
    expect(existsSync(target)).toBe(false);
  });

  test("FILE.lock a link to a root file: not opened for writing, the file keeps its bytes", () => {
    const s = setting("cdb-users-lock2");
    symlinkAs(s.user, s.rootFile, join(s.dir, "users.lock"));
    expect(addUser(join(s.dir, "users")).code).toBe(111);
    unchanged(s.rootFile);
  });

  test("FILE.cdb a link to a file of the other account's: the new cdb (password hashes) stays root's", () => {
    const s = setting("cdb-users-cdb");
    const theirs = join(s.user.home, "mine");
    plantAs(s.user, theirs, "", 0o644);
    symlinkAs(s.user, theirs, join(s.dir, "users.cdb"));
    const r = addUser(join(s.dir, "users"));
    expect(r.code).toBe(0);
    const st = lstatSync(join(s.dir, "users.cdb"));
    expect(st.isFile()).toBe(true);
    expect(st.uid).toBe(0);
    expect(st.mode & 0o077).toBe(0);
  });

  test("the cdb swapped for a link after the rename: its owner and mode are not given to the link's target", () => {
    const s = setting("cdb-users-swap");
    // The text file belongs to the account (it keeps it in its directory); the cdb name is now a link to root's file.
    const text = join(s.dir, "users");
    plantAs(s.user, text, "", 0o644);
    symlinkAs(s.user, s.rootFile, join(s.dir, "users.cdb"));
    cdbLikeText({ text, cdb: join(s.dir, "users.cdb") }, false);
    unchanged(s.rootFile);
    expect(() => shareWithGroup({ text, cdb: join(s.dir, "users.cdb") }, s.user.gid)).toThrow(/users\.cdb/);
    unchanged(s.rootFile);
  });

});

describe("users as root: the users file itself a link another account made", () => {
  test("to a root-only users file: not read into a file that account can read (--group), nothing written", () => {
    const s = setting("cdb-users-textlink");
    const secret = join(s.rootDir, "users");
    writeFileSync(secret, "admin:$6$salt$roothash:3000:3000:/home/admin\n", { mode: 0o600 });
    const text = join(s.dir, "users");
    symlinkAs(s.user, secret, text);
    const r = run([POPPIN, "users", "-f", text, "--group", String(s.user.gid), "add", "joe", "2000", "2000", "/home/joe"], { stdin: "secret\nsecret\n" });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("symbolic link");
    expect(lstatSync(text).isSymbolicLink()).toBe(true);
    expect(existsSync(`${text}.cdb`)).toBe(false);
    expect(readFileSync(secret, "latin1")).toContain("roothash");
  });
});

describe("users as root on files another account owns (the text file and its cdb kept by vmail)", () => {
  test("every rewrite keeps the account as their owner, and works again and again", () => {
    const s = setting("cdb-users-owned");
    const text = join(s.dir, "users");
    plantAs(s.user, text, "", 0o640);
    // The account runs users itself too: the lock file is theirs.
    plantAs(s.user, `${text}.lock`, "", 0o600);
    expect(addUser(text).code).toBe(0);
    expect(lstatSync(`${text}.cdb`).uid).toBe(s.user.uid);
    const again = run([POPPIN, "users", "-f", text, "add", "ann", "2001", "2001", "/home/ann"], { stdin: "secret\nsecret\n" });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    for (const f of [text, `${text}.cdb`]) {
      expect(lstatSync(f).uid).toBe(s.user.uid);
      expect(lstatSync(f).mode & 0o777).toBe(0o640);
    }
    expect(run([POPPIN, "users", "-f", text, "list"]).out).toContain("ann\t2001");
  });
});

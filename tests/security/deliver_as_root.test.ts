/**
 * `deliver` and `maildirmake` run by root on a user's Maildir act as the Maildir's owner:
 * the delivered file is the user's (they can read it), a Maildir root makes in a user's
 * directory is the user's, and a link the user made never lends root's rights to its target.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { asUser, localUser, sharedBase, symlinkAs, removeLocalUsers } from "./local_users.ts";

afterAll(removeLocalUsers);

const MESSAGE = "From: a@example.org\nSubject: hello\n\nbody\n";

function asRoot(argv: string[], stdin?: string) {
  return run([POPPIN, ...argv], { stdin, cwd: "/", env: { PATH: "/usr/bin:/bin", HOME: "/root" } });
}

describe("deliver as root", () => {
  test("into a user's Maildir: the message file is the user's, and the user reads it", () => {
    const base = sharedBase("deliver-root");
    const joe = localUser("pfj", base);
    const maildir = join(joe.home, "Maildir");
    expect(asUser(joe, [POPPIN, "maildirmake", maildir]).code).toBe(0);
    const r = asRoot(["deliver", maildir], MESSAGE);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [name] = readdirSync(join(maildir, "new"));
    expect(statSync(join(maildir, "new", name!)).uid).toBe(joe.uid);
    expect(asUser(joe, ["cat", join(maildir, "new", name!)]).out).toBe(MESSAGE);
    expect(readdirSync(join(maildir, "tmp"))).toEqual([]);
  });

  test("through a Maildir link a user made to root's Maildir: refused, nothing written there", () => {
    const base = sharedBase("deliver-root-link");
    const mallory = localUser("pfm", base);
    const rootMaildir = join(base, "root-Maildir");
    expect(asRoot(["maildirmake", rootMaildir]).code).toBe(0);
    const link = join(mallory.home, "Maildir");
    symlinkAs(mallory, rootMaildir, link);
    const r = asRoot(["deliver", link], MESSAGE);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("is a symbolic link");
    expect(readdirSync(join(rootMaildir, "new"))).toEqual([]);
    expect(readdirSync(join(rootMaildir, "tmp"))).toEqual([]);
  });

  test("into a user's Maildir whose new/ is a link to a root directory: nothing lands there", () => {
    const base = sharedBase("deliver-root-new");
    const mallory = localUser("pfm", base);
    const rootDir = join(base, "rootdir");
    mkdirSync(rootDir, { mode: 0o755 });
    const maildir = join(mallory.home, "Maildir");
    expect(asUser(mallory, ["mkdir", maildir, join(maildir, "tmp"), join(maildir, "cur")]).code).toBe(0);
    symlinkAs(mallory, rootDir, join(maildir, "new"));
    const r = asRoot(["deliver", maildir], MESSAGE);
    // Delivered as mallory, who may not write root's directory.
    expect(r.code).toBe(111);
    expect(readdirSync(rootDir)).toEqual([]);
  });

  test("a root-owned Maildir in a user's home (made by root with an older maildirmake): refused with the fix, nothing delivered", () => {
    const base = sharedBase("deliver-root-legacy");
    const joe = localUser("pfj", base);
    const maildir = join(joe.home, "Maildir");
    for (const path of [maildir, join(maildir, "tmp"), join(maildir, "new"), join(maildir, "cur")]) mkdirSync(path, { mode: 0o700 });
    const r = asRoot(["deliver", maildir], MESSAGE);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`belongs to root but is in a directory of uid ${joe.uid}: chown it to that user`);
    expect(readdirSync(join(maildir, "new"))).toEqual([]);
  });
});

describe("deliver as root, root's Maildir deeper in a user's directory", () => {
  test("a root-owned directory inside a user's home holds no root-owned Maildir root delivers to: refused, nothing delivered", () => {
    // joe can rename ~/box (root's) away and put a link there between root's check and its
    // delivery: root would then deliver wherever joe points. Refused like a Maildir directly in his home.
    const base = sharedBase("deliver-root-deeper");
    const joe = localUser("pfk", base);
    const box = join(joe.home, "box");
    mkdirSync(box, { mode: 0o755 });
    const maildir = join(box, "Maildir");
    for (const path of [maildir, join(maildir, "tmp"), join(maildir, "new"), join(maildir, "cur")]) mkdirSync(path, { mode: 0o700 });
    const r = asRoot(["deliver", maildir], MESSAGE);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`belongs to root but ${joe.home} on its path belongs to uid ${joe.uid}`);
    expect(readdirSync(join(maildir, "new"))).toEqual([]);
  });
});

describe("maildirmake as root", () => {
  test("in a user's directory: the Maildir is the user's, mode 0700, and the user can deliver into it", () => {
    const base = sharedBase("maildirmake-root");
    const joe = localUser("pfj", base);
    const maildir = join(joe.home, "Maildir");
    expect(asRoot(["maildirmake", maildir]).code).toBe(0);
    for (const path of [maildir, ...["tmp", "new", "cur"].map((s) => join(maildir, s))]) {
      expect(statSync(path).uid).toBe(joe.uid);
      expect(statSync(path).mode & 0o7777).toBe(0o700);
    }
    expect(asUser(joe, [POPPIN, "deliver", maildir], MESSAGE).code).toBe(0);
    const [name] = readdirSync(join(maildir, "new"));
    expect(readFileSync(join(maildir, "new", name!), "latin1")).toBe(MESSAGE);
  });

  test("in root's own directory: root's, as qmail's maildirmake makes it", () => {
    const base = sharedBase("maildirmake-root-own");
    const maildir = join(base, "Maildir");
    expect(asRoot(["maildirmake", maildir]).code).toBe(0);
    expect(statSync(join(maildir, "new")).uid).toBe(0);
  });
});

describe("root's Maildir in a directory others may write in (group-writable, not sticky)", () => {
  /** A root directory whose group is `user`'s own (0775): that user may rename what is in it. */
  function groupWritable(label: string) {
    const base = sharedBase(label);
    const mallory = localUser("pfg", base);
    const shared = join(base, "shared");
    mkdirSync(shared, { mode: 0o775 });
    chmodSync(shared, 0o775);
    chownSync(shared, 0, mallory.gid);
    const target = join(base, "root-only");
    mkdirSync(target, { mode: 0o755 });
    return { base, mallory, shared, target };
  }

  test("deliver: the Maildir swapped for the user's tree while the message is read: refused before, nothing lands in root's directory", async () => {
    const s = groupWritable("deliver-root-swap");
    const maildir = join(s.shared, "Maildir");
    // Made while the directory was root's alone (as an older maildirmake would make it there too).
    chmodSync(s.shared, 0o755);
    expect(asRoot(["maildirmake", maildir]).code).toBe(0);
    chmodSync(s.shared, 0o775);
    const proc = Bun.spawn([POPPIN, "deliver", maildir], { stdin: "pipe", stdout: "pipe", stderr: "pipe", cwd: "/", env: { PATH: "/usr/bin:/bin" } });
    proc.stdin.write("From: a@example.org\nSubject: * * * * * root id\n\n");
    await proc.stdin.flush();
    // Wait until deliver reads the message (its temporary file exists), or it has refused.
    for (let i = 0; i < 200 && readdirSync(join(maildir, "tmp")).length === 0 && proc.exitCode === null; i++) await Bun.sleep(10);
    // The swap: the real Maildir moved aside; in its place the user's tree whose tmp/ is the
    // real tmp/ and whose new/ is root's directory.
    const swap = asUser(s.mallory, ["sh", "-c", 'mv "$1/Maildir" "$1/real" && mkdir "$1/Maildir" && ln -s "$1/real/tmp" "$1/Maildir/tmp" && ln -s "$2" "$1/Maildir/new"', "sh", s.shared, s.target]);
    proc.stdin.write("body\n");
    proc.stdin.end();
    const code = await proc.exited;
    const err = await new Response(proc.stderr).text();
    expect(readdirSync(s.target)).toEqual([]);
    // Refused at the start: the directory holding root's Maildir may be changed by others.
    expect(code).toBe(111);
    expect(err).toContain("writable by group");
    // Refused before it read the message: the swap found the Maildir untouched (or the user made it, harmlessly).
    expect(swap.code).toBe(0);
  });

  test("maildirmake as root there: refused, nothing made", () => {
    const s = groupWritable("maildirmake-root-gw");
    const r = asRoot(["maildirmake", join(s.shared, "Maildir")]);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("writable by group");
  });

  test("a sticky world-writable directory (/tmp style) holding root's Maildir is still fine", () => {
    const base = sharedBase("deliver-root-sticky");
    const sticky = join(base, "sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const maildir = join(sticky, "Maildir");
    expect(asRoot(["maildirmake", maildir]).code).toBe(0);
    expect(asRoot(["deliver", maildir], MESSAGE).code).toBe(0);
    expect(readdirSync(join(maildir, "new")).length).toBe(1);
  });
});

describe("root's Maildir named through a link a user made on its path", () => {
  test("deliver ~user/link/Maildir (link -> a root directory): refused, nothing delivered", () => {
    const base = sharedBase("deliver-root-midlink");
    const mallory = localUser("pfm", base);
    const rootDir = join(base, "rootdir");
    mkdirSync(rootDir, { mode: 0o755 });
    const maildir = join(rootDir, "Maildir");
    expect(asRoot(["maildirmake", maildir]).code).toBe(0);
    symlinkAs(mallory, rootDir, join(mallory.home, "link"));
    const r = asRoot(["deliver", join(mallory.home, "link", "Maildir")], MESSAGE);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("symbolic link");
    expect(readdirSync(join(maildir, "new"))).toEqual([]);
  });

  test("maildirmake ~user/link/Maildir (link -> a root directory): refused, nothing made", () => {
    const base = sharedBase("maildirmake-root-midlink");
    const mallory = localUser("pfm", base);
    const rootDir = join(base, "rootdir");
    mkdirSync(rootDir, { mode: 0o755 });
    symlinkAs(mallory, rootDir, join(mallory.home, "link"));
    const r = asRoot(["maildirmake", join(mallory.home, "link", "Maildir")]);
    expect(r.code).toBe(111);
    expect(readdirSync(rootDir)).toEqual([]);
  });
});

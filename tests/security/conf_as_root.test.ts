/**
 * `poppin conf` run by root writes a service directory whose `run` svscan (or systemd) runs as
 * root. A directory on its path that another local user owns, or a link that user made on it,
 * lets them rename the service directory and put their own `run` in its place.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { asUser, localUser, removeLocalUsers, sharedBase, symlinkAs } from "./local_users.ts";

afterAll(removeLocalUsers);

describe("conf as root", () => {
  test("a service directory in a user's directory: refused, nothing made (the user could swap in their own run)", () => {
    const base = sharedBase("conf-root-user");
    const mallory = localUser("pcf", base);
    const dir = join(mallory.home, "pop3d");
    const r = run([POPPIN, "conf", "pop3d", "/bin/true", "nobody", dir]);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`belongs to uid ${mallory.uid}`);
    expect(existsSync(dir)).toBe(false);
    // What the refusal prevents: the user owns the directory above, so renaming is theirs to do.
    expect(asUser(mallory, ["sh", "-c", 'mkdir "$1" && mv "$1" "$1.x"', "sh", dir]).code).toBe(0);
  });

  test("through a link a user made to a root directory: refused, nothing made there", () => {
    const base = sharedBase("conf-root-link");
    const mallory = localUser("pcf", base);
    const rootDir = join(base, "services");
    mkdirSync(rootDir, { mode: 0o755 });
    symlinkAs(mallory, rootDir, join(mallory.home, "svc"));
    const r = run([POPPIN, "conf", "pop3d", "/bin/true", "nobody", join(mallory.home, "svc", "pop3d")]);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("symbolic link");
    expect(readdirSync(rootDir)).toEqual([]);
  });

  test("in root's own directory: made as before", () => {
    const dir = join(tempDir("conf-root-own"), "pop3d");
    const r = run([POPPIN, "conf", "pop3d", "/bin/true", "nobody", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "run"))).toBe(true);
  });
});

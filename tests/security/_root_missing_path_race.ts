/**
 * Run by root_missing_path_race.test.ts in a bun of its own (module mocks last for the process).
 * Root runs `maildirmake` or `deliver` on a path in a user's tree that is not there yet
 * (`~joe/new/Maildir` before `new` exists). Root looks once (realpath of the parent, lstat of
 * the Maildir) and finds nothing; joe then makes the missing piece (a directory of his, or a
 * link to a root directory holding a Maildir of root's) before root's mkdir or delivery.
 * The race is played here without timing: the look is made to find nothing (as it would have,
 * a moment earlier), while the path is already there for the steps after it.
 */
import { afterAll, describe, expect, mock, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { localUser, removeLocalUsers, sharedBase, symlinkAs } from "./local_users.ts";
import type { AppletContext } from "../../mod/cli/context.ts";

afterAll(removeLocalUsers);

/** Paths whose first look (by realpath, or by lstat) finds nothing, as before the user's move. */
const notYet = new Set<string>();
const gone = (p: unknown) => {
  if (typeof p === "string" && notYet.delete(p)) throw Object.assign(new Error(`ENOENT: no such file or directory, '${p}'`), { code: "ENOENT" });
};
mock.module("node:fs", () => ({
  ...fs,
  realpathSync: Object.assign((p: fs.PathLike, o?: unknown) => (gone(p), fs.realpathSync(p, o as undefined)), { native: fs.realpathSync.native }),
  lstatSync: (p: fs.PathLike, o?: unknown) => (gone(p), fs.lstatSync(p, o as undefined)),
}));
// deliver's delivery itself (which reads the message from fd 0) is only recorded: the question
// is whether root goes on to deliver at all.
const delivered: string[] = [];
mock.module("../../mod/maildir/deliver.ts", () => ({
  maildirDeliver: async (dir: string) => {
    delivered.push(dir);
    return "recorded";
  },
}));
const { applet: maildirmake } = await import("../../mod/applets/maildirmake.ts");
const { applet: deliver } = await import("../../mod/applets/deliver.ts");

function ctx(name: string): AppletContext {
  return { applet: name, calledAs: name, classic: false, prefix: `poppin ${name}`, execPath: "/bin/false", env: {} };
}

describe("root and a path a user completes after root looked", () => {
  test("maildirmake ~joe/new/Maildir: root makes no Maildir of its own there", async () => {
    const base = sharedBase("race-mkdir");
    const joe = localUser("prm", base);
    const rootDir = tempDir("race-mkdir-root");
    const parent = join(joe.home, "new");
    symlinkAs(joe, rootDir, parent); // made after root's look
    notYet.add(parent);
    let failed: unknown;
    try {
      await maildirmake.run([join(parent, "Maildir")], ctx("maildirmake"));
    } catch (e) {
      failed = e;
    }
    expect(String(failed)).toContain("unable to mkdir");
    expect(fs.readdirSync(rootDir)).toEqual([]);
  });

  test("deliver ~joe/link/Maildir, the link to a root directory holding root's Maildir: nothing delivered there", async () => {
    const base = sharedBase("race-deliver");
    const joe = localUser("prd", base);
    const rootDir = tempDir("race-deliver-root");
    const rootMaildir = join(rootDir, "Maildir");
    for (const d of [rootMaildir, ...["tmp", "new", "cur"].map((s) => join(rootMaildir, s))]) fs.mkdirSync(d, { mode: 0o700 });
    const link = join(joe.home, "link");
    symlinkAs(joe, rootDir, link);
    const maildir = join(link, "Maildir");
    notYet.add(maildir);
    let failed: unknown;
    try {
      await deliver.run([maildir], ctx("deliver"));
    } catch (e) {
      failed = e;
    }
    expect(delivered).toEqual([]);
    expect(String(failed)).toContain("no such Maildir");
  });
});

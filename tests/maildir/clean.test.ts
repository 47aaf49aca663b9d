import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, rmdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { TempError } from "../../mod/base/errors.ts";
import { TMP_MAX_AGE_MS, maildirDelete, maildirDeleteMany, maildirMoveToCur, maildirTmpCleanup } from "../../mod/maildir/clean.ts";
import { maildirScan } from "../../mod/maildir/scan.ts";
import { tempDir } from "../helpers.ts";
import { makeMaildir, putMessage, removeFastTempDirs } from "./fixtures.ts";

afterAll(removeFastTempDirs);

describe("tmp cleanup", () => {
  test("removes tmp files not accessed for more than 36 hours, keeps the rest", () => {
    const dir = makeMaildir();
    const now = 2_000_000_000_000;
    const old = putMessage(dir, "tmp", "old", "x");
    const fresh = putMessage(dir, "tmp", "fresh", "x");
    const edge = putMessage(dir, "tmp", "edge", "x");
    utimesSync(old, (now - TMP_MAX_AGE_MS - 1000) / 1000, 0);
    utimesSync(fresh, (now - 1000) / 1000, 0);
    utimesSync(edge, (now - TMP_MAX_AGE_MS) / 1000, 0);
    putMessage(dir, "tmp", ".dot", "x", (now - 10 * TMP_MAX_AGE_MS) / 1000);
    mkdirSync(join(dir, "tmp", "subdir"));
    utimesSync(join(dir, "tmp", "subdir"), 0, 0);
    expect(maildirTmpCleanup(dir, { nowMs: now })).toEqual(["old"]);
    expect(readdirSync(join(dir, "tmp")).sort()).toEqual([".dot", "edge", "fresh", "subdir"]);
    expect(TMP_MAX_AGE_MS).toBe(129600 * 1000);
  });

  test("a Maildir without tmp/ is not an error", () => {
    expect(maildirTmpCleanup(join(tempDir("notmp"), "none"))).toEqual([]);
  });
});

describe("deletion at QUIT", () => {
  test("unlinks; a message already gone counts as done", () => {
    const dir = makeMaildir();
    const a = putMessage(dir, "cur", "1.M1P1.h:2,", "a\n");
    expect(maildirDelete(a)).toBe("deleted");
    expect(existsSync(a)).toBe(false);
    expect(maildirDelete(a)).toBe("already-gone");
  });

  test("a real failure is a TempError naming the file, and the others are still deleted", () => {
    const dir = makeMaildir();
    const a = putMessage(dir, "cur", "1.M1P1.h:2,", "a\n");
    const b = putMessage(dir, "cur", "2.M1P1.h:2,", "b\n");
    const notEmpty = join(dir, "cur", "3.dir");
    mkdirSync(notEmpty);
    putMessage(dir, "cur", "3.dir/inner" as "cur", "x"); // a directory cannot be unlinked
    expect(() => maildirDelete(notEmpty)).toThrow(TempError);
    expect(() => maildirDelete(notEmpty)).toThrow(`unable to unlink ${notEmpty}`);
    const r = maildirDeleteMany([a, notEmpty, b, a]);
    expect(r.deleted).toEqual([a, b]);
    expect(r.alreadyGone).toEqual([a]);
    expect(r.failed.map((f) => f.path)).toEqual([notEmpty]);
    expect(existsSync(b)).toBe(false);
  });

  test("deletion after another session deleted the same message (two scans, one file)", () => {
    const dir = makeMaildir();
    putMessage(dir, "new", "1.M1P1.h", "a\n");
    const first = maildirScan(dir);
    const second = maildirScan(dir);
    expect(maildirDeleteMany(first.map((e) => e.path)).deleted.length).toBe(1);
    expect(maildirDeleteMany(second.map((e) => e.path)).alreadyGone.length).toBe(1);
  });
});

describe("move to cur", () => {
  test("new/NAME goes to cur/NAME:2, and keeps its UIDL; anything else is left alone", () => {
    const dir = makeMaildir();
    const n = putMessage(dir, "new", "1700000000.M1P1.h,S=2,W=3", "a\n");
    const target = maildirMoveToCur(n);
    expect(target).toBe(join(dir, "cur", "1700000000.M1P1.h,S=2,W=3:2,"));
    expect(existsSync(target!)).toBe(true);
    expect(maildirMoveToCur(n)).toBeUndefined();
    expect(maildirMoveToCur(target!)).toBeUndefined();
  });

  test("a failed move (no cur/) leaves the message in new/, as qmail's \"bummer\"", () => {
    const dir = makeMaildir();
    const n = putMessage(dir, "new", "1.M1P1.h", "a\n");
    rmdirSync(join(dir, "cur"));
    expect(maildirMoveToCur(n)).toBeUndefined();
    expect(existsSync(n)).toBe(true);
  });
});

/**
 * Root's `maildirmake` and `deliver` on a path a user completes after root looked: played in
 * _root_missing_path_race.ts, which replaces node:fs's look (and deliver's delivery) with
 * mock.module. Module mocks stay for the whole process, so that file runs in a bun of its own,
 * never beside the other test files.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

test("maildirmake and deliver as root: a path completed after root's look is refused (run apart: module mocks)", () => {
  const r = Bun.spawnSync([process.execPath, "test", "--timeout", "30000", `./${join("tests", "security", "_root_missing_path_race.ts")}`], {
    cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 120_000,
  });
  const out = r.stdout.toString() + r.stderr.toString();
  expect(out).toMatch(/\b2 pass\b/);
  expect(out).toMatch(/\b0 fail\b/);
  expect(r.exitCode).toBe(0);
});

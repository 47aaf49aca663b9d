import { expect, test } from "bun:test";
import { join } from "node:path";
import { hashPassword, makeSetting } from "../../mod/sys/crypt.ts";

const b = (s: string) => Buffer.from(s, "latin1");

// In a child process: the change to libcrypt lasts for the life of the process.
test("yescrypt's region kept between checks: every scheme gives the same hashes as before, and later checks reuse the one region", () => {
  const settings = [
    hashPassword(b("correct horse"), "yescrypt"), // the right password: the hash itself
    hashPassword(b("something else"), "yescrypt"),
    makeSetting("yescrypt"),
    "$6$saltstring", "$5$saltstring", "$1$saltsalt$", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.",
    "!", "$y$",
  ];
  const child = Bun.spawnSync([process.execPath, join(import.meta.dir, "fixtures", "crypt_region_child.ts"), JSON.stringify(settings)]);
  expect(child.stderr.toString()).toBe("");
  const got = JSON.parse(child.stdout.toString());
  expect(got.installed).toBe(true);
  expect(got.again).toBe(true);
  expect(got.before[0]).toBe(settings[0]);
  expect(got.before[1]).not.toBe(settings[0]);
  expect(got.before.slice(-2)).toEqual([null, null]);
  expect(got.after[0]).toEqual(got.before);
  expect(got.after[1]).toEqual(got.before);
  // Six yescrypt checks after the change: the first keeps its region, the five after it reuse it.
  expect(got.figures).toEqual({ kept: 6, reused: 5 });
  // One region stays mapped between checks, where before none did.
  expect(got.mappingsAfter).toBe(got.mappingsBefore + 1);
}, 30_000);

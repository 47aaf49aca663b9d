import { expect, test } from "bun:test";
import { join } from "node:path";
import { hashPassword, makeSetting } from "../../mod/sys/crypt.ts";

const b = (s: string) => Buffer.from(s, "latin1");

/** Hashes `settings` in a child with the region kept (the change lasts for the life of a process); what it saw. */
function inChild(settings: string[]) {
  const child = Bun.spawnSync([process.execPath, join(import.meta.dir, "fixtures", "crypt_region_child.ts"), JSON.stringify(settings)]);
  expect(child.stderr.toString()).toBe("");
  const got = JSON.parse(child.stdout.toString());
  expect(got.installed).toBe(true);
  return got;
}

// In a child process: the change to libcrypt lasts for the life of the process.
test("yescrypt's region kept between checks: every scheme gives the same hashes as before, and later checks reuse the one region", () => {
  const settings = [
    hashPassword(b("correct horse"), "yescrypt"), // the right password: the hash itself
    hashPassword(b("something else"), "yescrypt"),
    makeSetting("yescrypt"),
    "$6$saltstring", "$5$saltstring", "$1$saltsalt$", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.",
    "!", "$y$",
  ];
  const got = inChild(settings);
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

// A hash with a high cost (here 128 MiB) in the user database: its region is unmapped as
// before (not kept for the life of the helper), and a region of another size kept before is
// given back for the last one, so the usual 16 MiB checks after them reuse theirs.
test("yescrypt's kept region: a 128 MiB region is not kept, a kept region of another size gives way to the last one", () => {
  const salt = "5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Q.";
  const settings = ["$y$jCT$", "$y$jAT$", "$y$j9T$", "$y$j9T$", "$y$j9T$"].map((s) => s + salt);
  const got = inChild(settings);
  expect(got.before.every((h: string | null) => h !== null)).toBe(true);
  expect(got.after[0]).toEqual(got.before);
  expect(got.after[1]).toEqual(got.before);
  // Each round: 32 MiB kept, the 16 MiB one replaces it and is reused twice.
  expect(got.figures).toEqual({ kept: 8, reused: 4 });
  expect(got.mappingsAfter).toBe(got.mappingsBefore + 1);
}, 30_000);

// Every scheme libcrypt runs through yescrypt's region code (yescrypt at several costs,
// gost-yescrypt, scrypt), one after the other in one helper: a kept region that held another
// check's state changes no hash.
test("yescrypt's kept region: yescrypt at other costs, gost-yescrypt and scrypt give the same hashes as without", () => {
  const salt = "5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Qk/5Q.";
  const settings = ["$y$j9T$", "$gy$j9T$", "$7$CU..../....", "$y$jAT$", "$y$j9T$", "$y$j7T$", "$gy$jAT$", "$7$BU..../....", "$y$j9T$"].map((s) => s + salt);
  const got = inChild(settings);
  expect(got.before.every((h: string | null) => h !== null)).toBe(true);
  expect(got.after[0]).toEqual(got.before);
  expect(got.after[1]).toEqual(got.before);
  expect(got.figures.reused).toBeGreaterThan(0);
}, 30_000);

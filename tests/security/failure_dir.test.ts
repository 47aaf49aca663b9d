/**
 * popup's per-address failure counts (`auth-failure-dir`) are written by popup, which runs as
 * root in the classic chain. Whoever else may write in that directory (a service account
 * sharing it, a directory made group-writable) must not get root to write through a link at
 * the temporary name popup uses, nor hang every login from an address with a FIFO at its name.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addressBlocked, recordFailure } from "../../mod/policy/failure_limit.ts";
import { ROOT, tempDir } from "../helpers.ts";
import { localUser, removeLocalUsers, sharedBase } from "./local_users.ts";

afterAll(removeLocalUsers);

const IP = "192.0.2.7";

describe("auth-failure-dir written by root", () => {
  test("a link at the temporary name is not written through; the count still goes up", () => {
    const dir = tempDir("failure-dir");
    const target = join(tempDir("failure-target"), "root-file");
    writeFileSync(target, "root's data\n");
    // Another writer of the directory plants links at the names popup will use.
    symlinkSync(target, join(dir, `${IP}.${process.pid}`));
    const opts = { dir, limit: 2, windowSeconds: 600, now: () => 1_000_000 };
    recordFailure(IP, opts);
    expect(readFileSync(target, "latin1")).toBe("root's data\n");
    expect(addressBlocked(IP, opts)).toBe(false);
    recordFailure(IP, opts);
    expect(addressBlocked(IP, opts)).toBe(true);
    expect(lstatSync(join(dir, IP)).isFile()).toBe(true);
    expect(readFileSync(target, "latin1")).toBe("root's data\n");
  });

  test("a count file that is a link to another file is not read nor replaced through", () => {
    const base = sharedBase("failure-dir");
    const other = localUser("pfd", base);
    const dir = join(base, "failures");
    mkdirSync(dir);
    chownSync(dir, other.uid, other.gid);
    const target = join(tempDir("failure-target"), "root-file");
    writeFileSync(target, "99 1000000\n"); // reads like a count at the limit
    expect(spawnSync("ln", ["-s", target, join(dir, IP)], { uid: other.uid, gid: other.gid }).status).toBe(0);
    const opts = { dir, limit: 5, windowSeconds: 600, now: () => 1_000_000 };
    expect(addressBlocked(IP, opts)).toBe(false);
    recordFailure(IP, opts);
    expect(readFileSync(target, "latin1")).toBe("99 1000000\n");
  });

  test("a FIFO at an address's name does not hang the login", () => {
    const dir = tempDir("failure-dir");
    expect(spawnSync("mkfifo", [join(dir, IP)]).status).toBe(0);
    chmodSync(join(dir, IP), 0o666);
    const script = `import { addressBlocked, recordFailure } from ${JSON.stringify(join(ROOT, "mod/policy/failure_limit.ts"))};
const o = { dir: ${JSON.stringify(dir)}, limit: 3, windowSeconds: 600 };
recordFailure(${JSON.stringify(IP)}, o);
console.log(addressBlocked(${JSON.stringify(IP)}, o));`;
    const r = spawnSync(process.execPath, ["-e", script], { timeout: 10_000, encoding: "latin1" });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe("false");
  });
});

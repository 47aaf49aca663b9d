/**
 * popup's per-address failure counts (`auth-failure-dir`) are written by popup, which runs as
 * root in the classic chain. Whoever else may write in that directory (a service account
 * sharing it, a directory made group-writable) must not get root to write through a link at
 * the temporary name popup uses, nor hang every login from an address with a FIFO at its name.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addressBlocked, PRUNE_MARK, pruneDue, pruneExpired, recordFailure } from "../../mod/policy/failure_limit.ts";
import { clientKey } from "../../mod/rules/ip6.ts";
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

describe("auth-failure-dir stays bounded", () => {
  test("an IPv6 client that takes a new address of its /64 for every try is counted once, in one file", () => {
    const dir = tempDir("failure-dir");
    const opts = { dir, limit: 10, windowSeconds: 600, now: () => 1_000_000, prune: () => false };
    for (let i = 1; i <= 10; i++) {
      expect(addressBlocked(`2001:db8:1:2:${i.toString(16)}:${((i * 7919) & 0xffff).toString(16)}::1`, opts)).toBe(false);
      recordFailure(`2001:db8:1:2:${i.toString(16)}:${((i * 7919) & 0xffff).toString(16)}::1`, opts);
    }
    // Any address of that /64 is over the limit now; the next /64 and IPv4 are not.
    expect(addressBlocked("2001:db8:1:2::99", opts)).toBe(true);
    expect(addressBlocked("2001:db8:1:3::1", opts)).toBe(false);
    expect(addressBlocked(IP, opts)).toBe(false);
    expect(readdirSync(dir)).toEqual(["2001_db8_1_2___64"]);
    expect(clientKey("2001:0db8:0001:0002:ffff::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("::ffff:192.0.2.7")).toBe(IP); // an IPv4 client on a dual-stack socket
    expect(clientKey(IP)).toBe(IP);
  });

  test("counts whose window is over are removed, fresh ones kept; links are removed, not followed; other files stay", () => {
    const dir = tempDir("failure-dir");
    const target = join(tempDir("failure-target"), "root-file");
    writeFileSync(target, "root's data\n");
    const old = (Date.now() - 3600_000) / 1000;
    for (let i = 1; i <= 50; i++) {
      writeFileSync(join(dir, `198.51.100.${i}`), "3 1000\n");
      utimesSync(join(dir, `198.51.100.${i}`), old, old);
    }
    writeFileSync(join(dir, "203.0.113.1"), `2 ${Math.floor(Date.now() / 1000)}\n`); // failed a minute ago
    symlinkSync(target, join(dir, "203.0.113.2"));
    lutimesSync(join(dir, "203.0.113.2"), old, old);
    utimesSync(target, old, old);
    mkdirSync(join(dir, "a-directory"));
    utimesSync(join(dir, "a-directory"), old, old);
    const opts = { dir, limit: 3, windowSeconds: 600, prune: () => true };
    recordFailure("192.0.2.99", opts);
    expect(readdirSync(dir).sort()).toEqual(["192.0.2.99", "203.0.113.1", "a-directory"]);
    expect(readFileSync(target, "latin1")).toBe("root's data\n");
    expect(existsSync(target)).toBe(true);
    // The fresh count still counts.
    recordFailure("203.0.113.1", opts);
    expect(addressBlocked("203.0.113.1", opts)).toBe(true);
    expect(pruneExpired(join(dir, "missing"), 600)).toBe(0);
  });

  test("clients failing window after window: the directory holds about one window's files, not every address that ever failed", () => {
    const dir = tempDir("failure-dir");
    const opts = { dir, limit: 5, windowSeconds: 600, prune: () => true };
    const anHourAgo = (Date.now() - 3600_000) / 1000;
    let most = 0;
    for (let window = 0; window < 5; window++) {
      for (let i = 0; i < 200; i++) {
        recordFailure(`10.${window}.${i >> 8}.${i & 0xff}`, opts);
        most = Math.max(most, readdirSync(dir).length);
      }
      // The window passes: these counts are over.
      for (const name of readdirSync(dir)) utimesSync(join(dir, name), anHourAgo, anHourAgo);
    }
    expect(most).toBeLessThanOrEqual(201);
    expect(pruneExpired(dir, 600)).toBeLessThanOrEqual(200);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a directory is pruned a few times a window, not at every count: its mark says when; a link at the mark prunes nothing", () => {
    const dir = tempDir("failure-dir");
    const anHourAgo = (Date.now() - 3600_000) / 1000;
    for (let i = 1; i <= 20; i++) {
      writeFileSync(join(dir, `198.51.100.${i}`), "3 1000\n");
      utimesSync(join(dir, `198.51.100.${i}`), anHourAgo, anHourAgo);
    }
    expect(pruneDue(dir, 600)).toBe(false); // a new mark: pruned "now"
    expect(lstatSync(join(dir, PRUNE_MARK)).isFile()).toBe(true);
    const opts = { dir, limit: 3, windowSeconds: 600 };
    recordFailure("192.0.2.1", opts);
    expect(readdirSync(dir).length).toBe(22); // not due: nothing listed
    utimesSync(join(dir, PRUNE_MARK), anHourAgo, anHourAgo);
    recordFailure("192.0.2.2", opts);
    expect(readdirSync(dir).sort()).toEqual([PRUNE_MARK, "192.0.2.1", "192.0.2.2"]);
    expect(pruneDue(dir, 600)).toBe(false); // just pruned
    // Another writer of the directory puts a link at the mark: not followed, nothing pruned.
    const target = join(tempDir("failure-target"), "root-file");
    writeFileSync(target, "root's data\n");
    utimesSync(target, anHourAgo, anHourAgo);
    const other = tempDir("failure-dir");
    symlinkSync(target, join(other, PRUNE_MARK));
    expect(pruneDue(other, 600)).toBe(false);
    expect(lstatSync(target).mtimeMs).toBe(anHourAgo * 1000);
    expect(readFileSync(target, "latin1")).toBe("root's data\n");
  });

  test("a hard link at the mark (made where protected_hardlinks is off) to a root file: its time is not changed, nothing pruned", () => {
    const anHourAgo = (Date.now() - 3600_000) / 1000;
    // A root file whose time means something (a dot-lock judged stale by its age, a tcp.cdb make compares).
    const dir = tempDir("failure-dir");
    const target = join(dir, "root-file");
    writeFileSync(target, "root's data\n");
    utimesSync(target, anHourAgo, anHourAgo);
    linkSync(target, join(dir, PRUNE_MARK));
    expect(pruneDue(dir, 600)).toBe(false);
    expect(lstatSync(target).mtimeMs).toBe(anHourAgo * 1000);
    expect(readFileSync(target, "latin1")).toBe("root's data\n");
  });
});

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { PermError } from "../../mod/base/errors.ts";
import { maildirScan } from "../../mod/maildir/scan.ts";
import { SIZE_CACHE_FILE } from "../../mod/maildir/size_cache.ts";
import { tempDir } from "../helpers.ts";
import { crlf, makeMaildir, putMessage, removeFastTempDirs } from "./fixtures.ts";

afterAll(removeFastTempDirs);

function scanWarnings(dir: string, opts = {}) {
  const warnings: string[] = [];
  const entries = maildirScan(dir, { ...opts, onWarning: (m) => warnings.push(m) });
  return { entries, warnings };
}

describe("maildirScan", () => {
  test("moves new/ into cur/ with ':2,' and lists both with UIDL and sizes", () => {
    const dir = makeMaildir();
    putMessage(dir, "new", "1700000002.M1P1.h", "Subject: b\n\nbody\n");
    putMessage(dir, "cur", "1700000001.M1P1.h:2,S", "Subject: a\r\n\r\nx\r\n");
    const { entries, warnings } = scanWarnings(dir);
    expect(warnings).toEqual([]);
    expect(readdirSync(join(dir, "new"))).toEqual([]);
    expect(entries.map((e) => e.name)).toEqual(["1700000001.M1P1.h:2,S", "1700000002.M1P1.h:2,"]);
    expect(entries.map((e) => e.uidl)).toEqual(["1700000001.M1P1.h", "1700000002.M1P1.h"]);
    expect(entries.map((e) => e.fileSize)).toEqual([17, 17]);
    expect(entries.map((e) => e.crlfSize)).toEqual([17, crlf("Subject: b\n\nbody\n")]);
    expect(entries[1].path).toBe(join(dir, "cur", "1700000002.M1P1.h:2,"));
    expect(existsSync(entries[1].path)).toBe(true);
  });

  test("moveNew false lists new/ in place, as qmail-pop3d sees it", () => {
    const dir = makeMaildir();
    putMessage(dir, "new", "1700000002.M1P1.h", "a\n");
    const { entries } = scanWarnings(dir, { moveNew: false });
    expect(entries.map((e) => e.path)).toEqual([join(dir, "new", "1700000002.M1P1.h")]);
    expect(readdirSync(join(dir, "new"))).toEqual(["1700000002.M1P1.h"]);
  });

  test("a message that cannot be moved to cur/ is reported and still listed, from new/", () => {
    const dir = makeMaildir();
    putMessage(dir, "new", "1700000001.M1P1.h", "a\n");
    putMessage(dir, "new", "1700000002.M1P1.h", "b\n");
    mkdirSync(join(dir, "cur", "1700000002.M1P1.h:2,", "blocker"), { recursive: true });
    const { entries, warnings } = scanWarnings(dir);
    expect(entries.map((e) => e.path)).toEqual([join(dir, "cur", "1700000001.M1P1.h:2,"), join(dir, "new", "1700000002.M1P1.h")]);
    expect(warnings.some((w) => w.startsWith(`unable to move ${join(dir, "new", "1700000002.M1P1.h")} to cur`))).toBe(true);
  });

  test("the same message in new/ and cur/ (moved by another session meanwhile) is listed once, from cur/", () => {
    const dir = makeMaildir();
    putMessage(dir, "new", "1700000001.M1P1.h,S=2,W=3", "a\n");
    putMessage(dir, "cur", "1700000001.M1P1.h,S=2,W=3:2,", "a\n");
    for (const trustNames of [true, false]) {
      const entries = maildirScan(dir, { moveNew: false, trustNames });
      expect(entries.map((e) => e.path)).toEqual([join(dir, "cur", "1700000001.M1P1.h,S=2,W=3:2,")]);
    }
  });

  test("renames and flag changes keep the UIDL and the order between sessions", () => {
    const dir = makeMaildir();
    for (let i = 0; i < 5; i++) putMessage(dir, "new", `17000000${10 + i}.M${i}P1.h,S=2,W=3`, "a\n");
    const first = maildirScan(dir);
    renameSync(first[2].path, join(dir, "cur", first[2].uidl + ":2,RS"));
    renameSync(first[0].path, join(dir, "cur", first[0].uidl + ":2,T"));
    const second = maildirScan(dir);
    expect(second.map((e) => e.uidl)).toEqual(first.map((e) => e.uidl));
    expect(second[2].name).toBe(first[2].uidl + ":2,RS");
  });

  test("W= in the name is used without reading; S= that disagrees with the file voids it", () => {
    const dir = makeMaildir();
    putMessage(dir, "cur", "1700000001.M1P1.h,S=2,W=999:2,", "a\n");
    putMessage(dir, "cur", "1700000002.M1P1.h,S=7,W=999:2,", "edited\n\n");
    putMessage(dir, "cur", "1700000003.M1P1.h,W=50:2,", "b\n");
    const { entries } = scanWarnings(dir, { sizeCache: false, trustNames: false });
    expect(entries.map((e) => e.crlfSize)).toEqual([999, 10, 50]);
    expect(entries.map((e) => e.fileSize)).toEqual([2, 8, 2]);
    expect(existsSync(join(dir, SIZE_CACHE_FILE))).toBe(false);
  });

  test("trustNames (the default) takes S= and W= without a stat, with mtime from the name; qmail order still stats", () => {
    const dir = makeMaildir();
    putMessage(dir, "cur", "1700000001.M250000P1.h,S=7,W=999:2,", "edited\n\n", 1_000_000_000);
    putMessage(dir, "cur", "1700000002.M1P1.h,W=50:2,", "b\n", 1_000_000_000);
    const trusted = maildirScan(dir, { sizeCache: false });
    expect(trusted.map((e) => [e.fileSize, e.crlfSize, e.mtimeMs])).toEqual([[7, 999, 1700000001250], [2, 50, 1_000_000_000_000]]);
    const qmail = maildirScan(dir, { sizeCache: false, order: "qmail" });
    expect(qmail.map((e) => e.fileSize).sort()).toEqual([2, 8]);
  });

  test("messages with CRLF already, no trailing newline, empty, and 8-bit bytes", () => {
    const dir = makeMaildir();
    const bodies = ["a\r\nb\r\n", "no newline at end", "", "\xff\xfe\n\r\n.\n", "mixed\r\nbare\nend"];
    bodies.forEach((b, i) => putMessage(dir, "cur", `17000000${10 + i}.M1P1.h:2,`, b));
    const entries = maildirScan(dir);
    expect(entries.map((e) => e.fileSize)).toEqual(bodies.map((b) => Buffer.byteLength(b, "latin1")));
    expect(entries.map((e) => e.crlfSize)).toEqual([6, 17, 0, 9, 16]);
  });

  test("delivery order by name time even when mtimes disagree; qmail order by mtime", () => {
    const dir = makeMaildir();
    putMessage(dir, "cur", "1700000003.M1P1.h:2,", "c\n", 1_000_000_000);
    putMessage(dir, "cur", "1700000001.M1P1.h:2,", "a\n", 1_000_000_300);
    putMessage(dir, "cur", "1700000002.M1P1.h:2,", "b\n", 1_000_000_200);
    expect(maildirScan(dir).map((e) => e.uidl[9])).toEqual(["1", "2", "3"]);
    expect(maildirScan(dir, { order: "qmail" }).map((e) => e.uidl[9])).toEqual(["3", "2", "1"]);
  });

  test("skips dot files silently and reports directories, symlink loops and bad names", () => {
    const dir = makeMaildir();
    putMessage(dir, "cur", ".hidden", "x\n");
    putMessage(dir, "cur", "1700000001.M1P1.h:2,", "a\n");
    mkdirSync(join(dir, "cur", "1700000002.dir"));
    symlinkSync("loop", join(dir, "cur", "loop"));
    symlinkSync("gone-target", join(dir, "cur", "1700000003.dangling"));
    const { entries, warnings } = scanWarnings(dir);
    expect(entries.map((e) => e.name)).toEqual(["1700000001.M1P1.h:2,"]);
    expect(warnings.some((w) => w.includes("1700000002.dir") && w.includes("not a regular file"))).toBe(true);
    expect(warnings.some((w) => w.includes("loop") && w.includes("unable to stat"))).toBe(true);
    expect(warnings.some((w) => w.includes(".hidden") || w.includes("dangling"))).toBe(false);
  });

  test("a missing Maildir or a missing cur/ is a PermError naming the directory; nothing is created", () => {
    const base = tempDir("nomd");
    expect(() => maildirScan(join(base, "nope"))).toThrow(PermError);
    expect(() => maildirScan(join(base, "nope"))).toThrow(`unable to scan ${join(base, "nope")}/new: file does not exist (not a Maildir; maildirmake, run as the user, makes one)`);
    const half = join(base, "half");
    mkdirSync(join(half, "new"), { recursive: true });
    expect(() => maildirScan(half, { moveNew: false })).toThrow(/unable to scan .*half\/cur/);
    expect(readdirSync(half)).toEqual(["new"]);
  });

  test("messages deleted by another process during the scan are left out, never an error", async () => {
    const dir = makeMaildir();
    const names: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const name = `${1700000000 + i}.M${i}P1.h:2,`;
      names.push(name);
      putMessage(dir, "cur", name, `message ${i}\n`);
    }
    // Another process deletes every other message while we scan.
    const script = `import {unlinkSync} from "node:fs"; for (let i = 0; i < ${names.length}; i += 2) { try { unlinkSync(${JSON.stringify(join(dir, "cur"))} + "/" + ${JSON.stringify(names)}[i]); } catch {} }`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "inherit" });
    // Start scanning once the other process has begun deleting (bounded wait).
    for (const until = Date.now() + 10_000; existsSync(join(dir, "cur", names[0])) && Date.now() < until;) await Bun.sleep(1);
    const { entries, warnings } = scanWarnings(dir);
    await child.exited;
    expect(warnings).toEqual([]);
    expect(entries.length).toBeGreaterThanOrEqual(1500);
    for (const e of entries) expect(e.crlfSize).toBe(e.fileSize + 1);
    const again = maildirScan(dir);
    expect(again.length).toBe(1500);
    expect(again.every((e) => Number(e.uidl.slice(0, 10)) % 2 === 1)).toBe(true);
  });

  test("a message deleted between scan and use is just gone: the scan after it does not list it", () => {
    const dir = makeMaildir();
    putMessage(dir, "cur", "1700000001.M1P1.h:2,", "a\n");
    const [e] = maildirScan(dir);
    unlinkSync(e.path);
    expect(maildirScan(dir)).toEqual([]);
  });

  test("10,000 messages: cold scan fills the cache, the warm scan agrees", () => {
    const dir = makeMaildir();
    for (let i = 0; i < 10_000; i++) putMessage(dir, "cur", `${1700000000 + i}.M${i}P1.h:2,`, "l\n".repeat(i % 17) + "end");
    const t0 = performance.now();
    const cold = maildirScan(dir);
    const t1 = performance.now();
    expect(cold.length).toBe(10_000);
    expect(cold.every((e, i) => e.fileSize === 2 * (i % 17) + 3 && e.crlfSize === 3 * (i % 17) + 3)).toBe(true);
    expect(existsSync(join(dir, SIZE_CACHE_FILE))).toBe(true);
    const t2 = performance.now();
    const warm = maildirScan(dir);
    const t3 = performance.now();
    expect(warm).toEqual(cold);
    console.log(`10,000-message scan: cold ${(t1 - t0).toFixed(0)} ms, warm ${(t3 - t2).toFixed(0)} ms`);
  });
});

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { maildirScan } from "../../mod/maildir/scan.ts";
import { SIZE_CACHE_FILE, SizeCache, formatSizeCache, parseSizeCache } from "../../mod/maildir/size_cache.ts";
import { makeMaildir, putMessage, removeFastTempDirs } from "./fixtures.ts";

afterAll(removeFastTempDirs);

function cacheText(dir: string): string {
  return readFileSync(join(dir, SIZE_CACHE_FILE), "utf8");
}

function fill(dir: string, n: number): void {
  for (let i = 0; i < n; i++) putMessage(dir, "cur", `${1700000000 + i}.M${i}P1.h:2,`, "x\n".repeat(i + 1));
}

describe("size cache", () => {
  test("format round-trips, including UIDLs with spaces; a UIDL with a newline is left out", () => {
    const map = new Map([
      ["a b c", { mtimeMs: 1700000000123.4567, fileSize: 5, crlfSize: 7 }],
      ["plain", { mtimeMs: 1, fileSize: 0, crlfSize: 0 }],
      ["bad\nname", { mtimeMs: 1, fileSize: 1, crlfSize: 2 }],
    ]);
    const parsed = parseSizeCache(formatSizeCache(map));
    expect(parsed).toBeDefined();
    expect([...parsed!.keys()]).toEqual(["a b c", "plain"]);
    expect(parsed!.get("a b c")).toEqual({ mtimeMs: 1700000000123.4567, fileSize: 5, crlfSize: 7 });
  });

  test("the warm scan takes sizes from the cache without reading the messages", () => {
    const dir = makeMaildir();
    fill(dir, 3);
    const cold = maildirScan(dir);
    // Rewrite the cache with different (but well-formed) sizes: a warm scan must report them,
    // which proves it did not read the files.
    const map = parseSizeCache(cacheText(dir))!;
    for (const e of map.values()) e.crlfSize += 1000;
    writeFileSync(join(dir, SIZE_CACHE_FILE), formatSizeCache(map));
    const warm = maildirScan(dir);
    expect(warm.map((e) => e.crlfSize)).toEqual(cold.map((e) => e.crlfSize + 1000));
  });

  test("an edited message (other size or mtime) is measured again, whatever the cache says", () => {
    const dir = makeMaildir();
    fill(dir, 2);
    const [first] = maildirScan(dir);
    writeFileSync(first.path, "y\ny\ny\n");
    const afterEdit = maildirScan(dir);
    expect(afterEdit[0].fileSize).toBe(6);
    expect(afterEdit[0].crlfSize).toBe(9);
    // Same size, new mtime: still measured again.
    writeFileSync(afterEdit[0].path, "zz\r\nz\n");
    utimesSync(afterEdit[0].path, 1_000_000_000, 1_000_000_000);
    expect(maildirScan(dir)[0].crlfSize).toBe(7);
  });

  test("a flag change (rename) keeps using the cached size: the key is the UIDL", () => {
    const dir = makeMaildir();
    fill(dir, 1);
    const [e] = maildirScan(dir);
    const map = parseSizeCache(cacheText(dir))!;
    map.get(e.uidl)!.crlfSize = 4242;
    writeFileSync(join(dir, SIZE_CACHE_FILE), formatSizeCache(map));
    const renamed = join(dir, "cur", `${e.uidl}:2,RS`);
    renameSync(e.path, renamed);
    expect(maildirScan(dir)[0].crlfSize).toBe(4242);
  });

  test("entries of deleted messages are dropped on the next scan (the cache stays bounded)", () => {
    const dir = makeMaildir();
    fill(dir, 5);
    const entries = maildirScan(dir);
    expect(parseSizeCache(cacheText(dir))!.size).toBe(5);
    for (const e of entries.slice(0, 3)) unlinkSync(e.path);
    maildirScan(dir);
    expect([...parseSizeCache(cacheText(dir))!.keys()]).toEqual(entries.slice(3).map((e) => e.uidl));
  });

  test("an unchanged Maildir does not rewrite the cache", () => {
    const dir = makeMaildir();
    fill(dir, 3);
    maildirScan(dir);
    const path = join(dir, SIZE_CACHE_FILE);
    utimesSync(path, 1_000_000_000, 1_000_000_000);
    maildirScan(dir);
    expect(statSync(path).mtimeMs).toBe(1_000_000_000_000);
  });

  test("names with W= are not cached", () => {
    const dir = makeMaildir();
    putMessage(dir, "cur", "1700000000.M1P1.h,S=2,W=3:2,", "a\n");
    maildirScan(dir);
    expect(existsSync(join(dir, SIZE_CACHE_FILE))).toBe(false);
  });

  for (const [label, mangle] of [
    ["garbage", () => "\x00\x01 not a cache at all"],
    ["truncated", (t: string) => t.slice(0, Math.floor(t.length / 2))],
    ["a changed digit", (t: string) => t.replace(/ 3 /, " 9 ")],
    ["a wrong count", (t: string) => t.replace(/^end (\d+)/m, "end 99")],
    ["an empty file", () => ""],
  ] as const) {
    test(`a corrupt cache (${label}) is ignored, reported, and rebuilt correctly`, () => {
      const dir = makeMaildir();
      fill(dir, 3);
      const good = maildirScan(dir);
      const path = join(dir, SIZE_CACHE_FILE);
      const before = readFileSync(path, "utf8");
      writeFileSync(path, (mangle as (t: string) => string)(before));
      const warnings: string[] = [];
      const again = maildirScan(dir, { onWarning: (m) => warnings.push(m) });
      expect(again).toEqual(good);
      expect(warnings.length === 0 ? "" : warnings[0]).toMatch(/ignoring corrupt size cache/);
      expect(readFileSync(path, "utf8")).toBe(before);
    });
  }

  test("a cache that cannot be written is a warning, not a failure; no temporary file is left", () => {
    const dir = makeMaildir();
    fill(dir, 2);
    mkdirSync(join(dir, SIZE_CACHE_FILE));
    const warnings: string[] = [];
    const entries = maildirScan(dir, { onWarning: (m) => warnings.push(m) });
    expect(entries.map((e) => e.crlfSize)).toEqual([3, 6]);
    expect(warnings.some((w) => w.startsWith("unable to write size cache"))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["cur", "new", SIZE_CACHE_FILE, "tmp"].sort());
  });

  test("sizeCache false neither reads nor writes the cache", () => {
    const dir = makeMaildir();
    fill(dir, 2);
    maildirScan(dir);
    const map = parseSizeCache(cacheText(dir))!;
    for (const e of map.values()) e.crlfSize += 1000;
    writeFileSync(join(dir, SIZE_CACHE_FILE), formatSizeCache(map));
    const text = cacheText(dir);
    expect(maildirScan(dir, { sizeCache: false }).map((e) => e.crlfSize)).toEqual([3, 6]);
    expect(cacheText(dir)).toBe(text);
  });

  test("SizeCache.load of a missing file is empty and save writes it atomically", () => {
    const dir = makeMaildir();
    const cache = SizeCache.load(dir);
    expect(cache.get("x", 1, 1)).toBeUndefined();
    cache.set("x", 1, 1, 2);
    cache.save();
    expect(parseSizeCache(cacheText(dir))!.get("x")).toEqual({ mtimeMs: 1, fileSize: 1, crlfSize: 2 });
    expect(readdirSync(dir).filter((n) => n.includes(".tmp."))).toEqual([]);
  });
});

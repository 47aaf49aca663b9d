import { describe, expect, test } from "bun:test";
import { sortByDelivery, sortLikeQmail } from "../../mod/maildir/order.ts";

const item = (name: string, mtimeMs = 0) => ({ name, mtimeMs });

describe("message order", () => {
  test("delivery order follows the time and microseconds in the name, not mtime or directory order", () => {
    const items = [
      item("1700000001.M5P9.h:2,S", 1), item("1700000000.M999999P1.h:2,", 9), item("1700000000.M10P1.h", 5),
      item("1600000000.42.host", 100),
    ];
    expect(sortByDelivery(items).map((i) => i.name)).toEqual([
      "1600000000.42.host", "1700000000.M10P1.h", "1700000000.M999999P1.h:2,", "1700000001.M5P9.h:2,S",
    ]);
  });

  test("numeric, not textual, comparison of times (9 digits before 10)", () => {
    const items = [item("1000000000.M1P1.h"), item("999999999.M1P1.h")];
    expect(sortByDelivery(items).map((i) => i.name)).toEqual(["999999999.M1P1.h", "1000000000.M1P1.h"]);
  });

  test("names without a time fall back to mtime; ties break by name so the order is total", () => {
    const items = [item("zeta", 3_000), item("alpha", 3_000), item("1.M1P1.h", 9_000_000)];
    expect(sortByDelivery(items).map((i) => i.name)).toEqual(["1.M1P1.h", "alpha", "zeta"]);
  });

  test("qmail order is by mtime seconds, whatever the names say", () => {
    const items = [item("3", 3_500), item("1", 1_000), item("2", 2_999), item("0", 500)];
    expect(sortLikeQmail(items).map((i) => i.name)).toEqual(["0", "1", "2", "3"]);
  });

  test("qmail order of equal mtimes is its heap's, not insertion order", () => {
    // Hand-run of prioq.c: inserting a,b,c (dt=5) then d (dt=1) gives the heap [d,a,c,b];
    // each delmin moves the last element to the root when it ties, so b, then c, then a.
    const items = [item("a", 5000), item("b", 5000), item("c", 5000), item("d", 1000)];
    expect(sortLikeQmail(items).map((i) => i.name)).toEqual(["d", "b", "c", "a"]);
  });

  test("qmail order keeps every item exactly once on large random input", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const items = Array.from({ length: 5000 }, (_, i) => item(String(i), (rand() % 50) * 1000 + (rand() % 1000)));
    const out = sortLikeQmail(items);
    expect(out.length).toBe(items.length);
    expect(new Set(out.map((i) => i.name)).size).toBe(items.length);
    for (let i = 1; i < out.length; i++) expect(Math.floor(out[i - 1].mtimeMs / 1000)).toBeLessThanOrEqual(Math.floor(out[i].mtimeMs / 1000));
  });
});

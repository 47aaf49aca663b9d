/** mod/base/posix_path.ts gives node:path's results (posix), on fixed cases and on random paths. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as node from "node:path";
import * as ours from "../../mod/base/posix_path.ts";

const CASES = [
  "", "/", "//", "///", ".", "..", "./", "../", "a", "a/", "/a", "/a/", "a/b", "/a/b/", "a//b", "a/./b", "a/../b",
  "../a", "../../a/b", "/..", "/../a", "a/..", "a/b/../..", "a/b/../../..", "/a/b/../../..", "...", "a/...", ".a", "a.",
  "/home/joe/Maildir", "Maildir/new/123.M1P2.host", "//a/b", "///a//b//", "./a/./b/.", "/x/y/../../z",
];

/** Path-like strings: slashes, dots and a few names, where the edge cases live. */
const pathArb = fc.array(fc.constantFrom("/", ".", "..", "a", "b", "Maildir", "/", "//"), { maxLength: 10 }).map((parts) => parts.join(""));

describe("posix_path: node:path's results", () => {
  test("fixed cases", () => {
    for (const p of CASES) {
      expect([p, ours.basename(p)]).toEqual([p, node.basename(p)]);
      expect([p, ours.dirname(p)]).toEqual([p, node.dirname(p)]);
      expect([p, ours.isAbsolute(p)]).toEqual([p, node.isAbsolute(p)]);
      expect([p, ours.normalize(p)]).toEqual([p, node.normalize(p)]);
      expect([p, ours.resolve(p)]).toEqual([p, node.resolve(p)]);
      for (const q of CASES) {
        expect([p, q, ours.join(p, q)]).toEqual([p, q, node.join(p, q)]);
        expect([p, q, ours.relative(p, q)]).toEqual([p, q, node.relative(p, q)]);
        expect([p, q, ours.resolve(p, q)]).toEqual([p, q, node.resolve(p, q)]);
      }
    }
    expect(ours.join()).toBe(node.join());
    expect(ours.join("a", "", "b", "/c")).toBe("a/b/c");
    expect(ours.relative("/home/joe", "/home/joe/Maildir")).toBe("Maildir"); // the result is not trivially ""
  });

  test("random paths", () => {
    fc.assert(fc.property(pathArb, pathArb, pathArb, (p, q, r) => {
      expect(ours.basename(p)).toBe(node.basename(p));
      expect(ours.dirname(p)).toBe(node.dirname(p));
      expect(ours.isAbsolute(p)).toBe(node.isAbsolute(p));
      expect(ours.join(p, q, r)).toBe(node.join(p, q, r));
      expect(ours.resolve(p, q)).toBe(node.resolve(p, q));
      expect(ours.relative(p, q)).toBe(node.relative(p, q));
    }), { numRuns: 3000 });
  });
});

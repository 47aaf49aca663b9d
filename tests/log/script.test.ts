/** The multilog script and pattern rules, as library functions. */
import { describe, expect, test } from "bun:test";
import { patternMatches } from "../../mod/log/pattern.ts";
import { parseScript, scanUlong } from "../../mod/log/script.ts";

const m = (pattern: string, line: string) => patternMatches(Buffer.from(pattern, "latin1"), Buffer.from(line, "latin1"), line.length);

describe("patterns (daemontools match.c)", () => {
  test("literal bytes match the whole line only", () => {
    expect(m("abc", "abc")).toBe(true);
    expect(m("abc", "abcd")).toBe(false);
    expect(m("abc", "ab")).toBe(false);
    expect(m("", "")).toBe(true);
    expect(m("", "x")).toBe(false);
  });

  test("* runs to the first occurrence of the next pattern byte, never past it", () => {
    expect(m("*", "")).toBe(true);
    expect(m("*", "anything")).toBe(true);
    expect(m("a*c", "abc")).toBe(true);
    expect(m("a*c", "abcc")).toBe(false); // * stops at the first c
    expect(m("*.*.*", "a.b.c")).toBe(true);
    expect(m("*.c", "a.b.c")).toBe(false); // * stops at the first dot
    expect(m("foo *", "foo bar baz")).toBe(true);
    expect(m("* x", "a b x")).toBe(false); // stops at the first space
    expect(m("*x*", "no ex here")).toBe(true);
    expect(m("*x*", "nothing")).toBe(false);
  });

  test("only the given length of the line counts", () => {
    expect(patternMatches(Buffer.from("ab"), Buffer.from("abc"), 2)).toBe(true);
  });
});

describe("script", () => {
  test("t counts only as the first action; s, n and ! apply to the directories after them", () => {
    const s = parseScript(["t", "s4096", "n3", "!gzip", "./a", "s100000000", "n1", "./b", "t", "/abs"]);
    expect(s.timestamp).toBe(true);
    expect(s.dirs).toEqual([
      { path: "./a", size: 4096, num: 3, processor: "gzip" },
      { path: "./b", size: 16777215, num: 2, processor: "gzip" },
      { path: "/abs", size: 16777215, num: 2, processor: "gzip" },
    ]);
    expect(parseScript(["./x", "t"]).timestamp).toBe(false);
  });

  test("defaults 99999 and 10; sizes clamped to 4096..16777215; scan_ulong reads leading digits", () => {
    expect(parseScript(["./a"]).dirs[0]).toEqual({ path: "./a", size: 99999, num: 10, processor: null });
    expect(parseScript(["s1", "./a"]).dirs[0].size).toBe(4096);
    expect(parseScript(["sx", "./a"]).dirs[0].size).toBe(4096);
    expect(parseScript(["s5000k", "./a"]).dirs[0].size).toBe(5000);
    expect(scanUlong("18446744073709551617")).toBe(1n); // wraps as unsigned long
    expect(parseScript(["!", "./a"]).dirs[0].processor).toBe("");
  });

  test("actions keep script order; = files and directories are numbered in order", () => {
    const s = parseScript(["-*", "+a*", "e", "=st", "./d", "=st2", "x"]);
    expect(s.actions.map((a) => a.kind)).toEqual(["deselect", "select", "stderr", "status", "dir", "status"]);
    expect(s.statusFiles).toEqual(["st", "st2"]);
  });
});

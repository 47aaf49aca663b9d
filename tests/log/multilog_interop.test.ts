/**
 * Ours against Debian's /usr/bin/multilog: the same input (from a file, so both read it
 * the same way) and the same script; the log directories must match file for file
 * (names and contents with TAI64N labels masked, modes), as must stderr.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { corpus, debianMultilog, maskLabels, ourMultilog, pair, runLogger, snapshot } from "./harness.ts";

const base = tempDir("mlog");

function compare(label: string, script: string[], input: Buffer | string, prepare?: (dir: string) => void) {
  const { deb, ours } = pair(base, label);
  prepare?.(deb);
  prepare?.(ours);
  const d = runLogger(debianMultilog(), deb, script, input);
  const o = runLogger(ourMultilog(), ours, script, input);
  expect({ code: o.code, stderr: maskLabels(o.stderr) }).toEqual({ code: d.code, stderr: maskLabels(d.stderr) });
  const ds = snapshot(deb);
  expect(snapshot(ours)).toEqual(ds);
  return { deb, ours, d, o, snapshot: ds };
}

function rotated(entries: { name: string }[]): number {
  return entries.filter((e) => /@LABEL\.[su]$/.test(e.name)).length;
}

describe("multilog interop: directory contents", () => {
  test("t s4096 n5: many rotations, lines around 200/974/1000/1024 bytes, binary bytes, no final newline", () => {
    const input = corpus(1, 500);
    const r = compare("basic", ["t", "s4096", "n5", "./main"], input);
    expect(rotated(r.snapshot)).toBe(4); // n5 keeps four old files
    const files = r.snapshot.filter((e) => e.name.startsWith("main/@") || e.name === "main/current").map((e) => e.content).join("");
    const lastLine = input.subarray(input.lastIndexOf(0x0a) + 1).toString("latin1");
    expect(files.endsWith(` ${lastLine}\n`)).toBe(true); // the unterminated last line, given a newline
  });

  test("no t, default size: long lines are kept whole, not split", () => {
    const input = Buffer.concat([Buffer.alloc(5000, "a"), Buffer.from("\nshort\n"), Buffer.alloc(1000, "b"), Buffer.from("\n")]);
    const r = compare("long", ["./main"], input);
    const current = r.snapshot.find((e) => e.name === "main/current")!.content;
    expect(current).toBe(`${"a".repeat(5000)}\nshort\n${"b".repeat(1000)}\n`);
  });

  test("several directories with their own s/n, patterns, e on stderr, =status", () => {
    // Patterns avoid hex digits: with t they would match parts of the labels, which differ between runs.
    const script = ["t", "s4096", "n3", "-*", "+*x*", "./x", "s5000", "n4", "+*", "-*q*", "./noq", "e", "=status", "+*", "-*z", "=lastz", "+@4000* *", "./all"];
    const r = compare("multi", script, corpus(2, 400));
    expect(r.d.stderr.length).toBeGreaterThan(1000);
    const status = readFileSync(join(r.ours, "status"));
    expect(status.length).toBe(1001);
    expect(status[1000]).toBe(0x0a);
  });

  test("patterns without t: * stops at the next pattern byte; a trailing * matches the rest", () => {
    const lines = ["abc", "abcd", "a.b.c", "a..c", "xyz", "", "*", "a*c", "ab", "foo bar baz", "foo  baz", "foobar"].join("\n") + "\n";
    compare("pat", ["-*", "+a*c", "+foo *", "+*.*.*", "e", "./m"], lines.repeat(3));
  });

  test("input ending exactly at 1024-byte read boundaries and lines of exactly 1000 bytes", () => {
    const line999 = Buffer.concat([Buffer.alloc(999, "q"), Buffer.from("\n")]);
    const line1023 = Buffer.concat([Buffer.alloc(1023, "r"), Buffer.from("\n")]);
    const input = Buffer.concat(Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? line1023 : line999)));
    compare("bound", ["s4096", "n20", "./m"], input);
    compare("bound-t", ["t", "s4096", "n20", "./m"], input);
  });

  test("processor: gets the rotated file on stdin, its output is the .s file, state passes through fd 4 and 5", () => {
    const proc = "!echo begin; cat <&4; wc -c; tr a-z A-Z; echo state-$(cat <&4 | wc -l) >&5; cat state >&5";
    const r = compare("proc", ["t", "s4096", "n4", proc, "./m"], corpus(3, 120));
    const names = r.snapshot.map((e) => e.name);
    expect(names).toContain("m/state");
    expect(names).not.toContain("m/previous");
    expect(names).not.toContain("m/processed");
    expect(rotated(r.snapshot)).toBe(3);
    const first = r.snapshot.find((e) => /@LABEL\.s$/.test(e.name))!;
    expect(first.content.startsWith("begin\n")).toBe(true);
  });

  test("processor: run as sh -c with argv[0] \"sh\" (its $0 and the shell's own messages say sh, as multilog's)", () => {
    const r = compare("proc-argv0", ["s4096", "n3", '!echo "[$0]" >&2; cat', "./m"], corpus(8, 120));
    expect(r.o.stderr).toStartWith("[sh]\n");
  });

  test("a processor that fails: multilog's warning names the directory as the script does, then the next try's output is kept", () => {
    // Fails on its first run only (a flag file beside the log directory), so the logger pauses once (5 s).
    const proc = "!if [ -e ../failed-once ]; then cat; else touch ../failed-once; exit 1; fi";
    const r = compare("proc-fails", ["s4096", "n3", proc, "./m"], corpus(9, 40));
    expect(r.o.stderr).toBe("multilog: warning: processor failed in ./m, pausing\n");
    expect(rotated(r.snapshot)).toBeGreaterThan(0);
  });

  test("an empty processor (!) leaves empty .s files, as multilog does", () => {
    compare("emptyproc", ["s4096", "n3", "!", "./m"], corpus(4, 200));
  });

  test("empty input, a single partial line, and n/s values out of range", () => {
    compare("empty", ["t", "./m"], "");
    compare("partial", ["t", "./m"], "no newline here");
    compare("clamp", ["s10", "n0", "./m"], corpus(5, 300));
    compare("clamp2", ["s99999999999", "nxyz", "./m"], corpus(6, 50));
  });

  test("unknown actions are ignored and t counts only first", () => {
    compare("unknown", ["s4096", "t", "x", "T", "./m"], corpus(7, 100));
  });

  test("restart after a clean stop appends to current; after an unclean one current becomes a .u file", () => {
    const cases: Array<[string, (dir: string) => void]> = [
      ["clean", (dir) => { mkdirSync(join(dir, "m"), { mode: 0o700 }); writeFileSync(join(dir, "m", "current"), "old line\n", { mode: 0o744 }); chmodSync(join(dir, "m", "current"), 0o744); }],
      ["unclean", (dir) => { mkdirSync(join(dir, "m"), { mode: 0o700 }); writeFileSync(join(dir, "m", "current"), "cut off", { mode: 0o644 }); writeFileSync(join(dir, "m", "state"), "s"); }],
      ["previous", (dir) => { mkdirSync(join(dir, "m"), { mode: 0o700 }); writeFileSync(join(dir, "m", "previous"), "prev\n"); writeFileSync(join(dir, "m", "processed"), "half"); writeFileSync(join(dir, "m", "current"), "cur\n", { mode: 0o644 }); }],
      ["processed", (dir) => { mkdirSync(join(dir, "m"), { mode: 0o700 }); writeFileSync(join(dir, "m", "previous"), "prev\n"); writeFileSync(join(dir, "m", "processed"), "done\n"); chmodSync(join(dir, "m", "processed"), 0o744); writeFileSync(join(dir, "m", "newstate"), "ns"); }],
    ];
    for (const [label, prepare] of cases) {
      const r = compare(`restart-${label}`, ["t", "./m"], corpus(8, 40), prepare);
      if (label === "clean") expect(r.snapshot.find((e) => e.name === "m/current")!.content.startsWith("old line\n")).toBe(true);
      if (label === "unclean") expect(r.snapshot.some((e) => e.name === "m/@LABEL.u" && e.content === "cut off")).toBe(true);
    }
  });

  test("one directory, loggers alternating: Debian then ours then Debian gives what Debian alone gives", () => {
    const script = ["t", "s4096", "n50", "!wc -c", "./m"];
    const inputs = [corpus(31, 30), corpus(32, 30), corpus(33, 30)];
    const { deb, ours } = pair(base, "alternate");
    for (const [i, input] of inputs.entries()) {
      expect(runLogger(debianMultilog(), deb, script, input).code).toBe(0);
      expect(runLogger(i === 1 ? ourMultilog() : debianMultilog(), ours, script, input).code).toBe(0);
    }
    const expected = snapshot(deb);
    expect(expected.filter((e) => /@LABEL\.s$/.test(e.name)).length).toBeGreaterThan(10);
    expect(snapshot(ours)).toEqual(expected);
  });

  test("Debian's tai64nlocal reads our log; our files and Debian's carry the same line structure", () => {
    const { ours } = pair(base, "readable");
    runLogger(ourMultilog(), ours, ["t", "./m"], "one\ntwo\n");
    const r = Bun.spawnSync(["tai64nlocal"], { stdin: readFileSync(join(ours, "m", "current")) });
    expect(r.stdout.toString()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} one\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} two\n$/);
  });
});

describe("multilog interop: messages and exit codes", () => {
  test("a directory that cannot be created", () => {
    const r = compare("nodir", ["t", "./missing/deeper"], "x\n");
    expect(r.o.code).toBe(111);
    expect(r.o.stderr).toBe("multilog: fatal: unable to open directory ./missing/deeper: file does not exist\n");
  });

  test("a status file that cannot be created", () => {
    const r = compare("nostatus", ["=./missing/status", "./m"], "x\n");
    expect(r.o.code).toBe(111);
    expect(r.o.stderr).toBe("multilog: fatal: unable to create ./missing/status: file does not exist\n");
    expect(existsSync(join(r.ours, "m"))).toBe(false); // = files are opened before any directory
  });

  test("current is a directory (mkdir in the wrong place): multilog's fatal line and 111 at once, not a pause loop", () => {
    const r = compare("current-dir", ["t", "./m"], "x\n", (dir) => mkdirSync(join(dir, "m", "current"), { recursive: true }));
    expect(r.o.code).toBe(111);
    expect(r.o.stderr).toBe("multilog: fatal: unable to append to ./m/current: is a directory\n");
  });

  test("no script at all: stdin is read and nothing kept, exit 0", () => {
    const r = compare("noscript", [], "a\nb\n");
    expect(r.o.code).toBe(0);
    expect(readdirSync(r.ours)).toEqual([]);
  });

  test("a locked directory: each refuses while the other holds it", async () => {
    for (const [holder, other] of [[debianMultilog(), ourMultilog()], [ourMultilog(), debianMultilog()]]) {
      const dir = join(base, `lock-${holder === debianMultilog() ? "deb" : "ours"}`);
      mkdirSync(dir);
      const held = Bun.spawn([holder, "./m"], { cwd: dir, stdin: "pipe", stderr: "pipe" });
      const deadline = Date.now() + 10_000;
      while (!existsSync(join(dir, "m", "current")) && Date.now() < deadline) await Bun.sleep(20);
      const r = runLogger(other, dir, ["./m"], "x\n");
      held.stdin.end();
      expect(await held.exited).toBe(0);
      expect(r.code).toBe(111);
      expect(r.stderr).toBe("multilog: fatal: unable to lock directory ./m: temporary failure\n");
    }
  });

  test("a directory without ./ (`multilog t main`): both ignore it and keep nothing; ours says so on stderr", () => {
    const { deb, ours } = pair(base, "no-dot");
    for (const script of [["t", "main"], ["t", "s4096", "log/main", "./kept"]]) {
      const d = runLogger(debianMultilog(), deb, script, "a line\n");
      const o = runLogger(ourMultilog(), ours, script, "a line\n");
      expect([o.code, d.code, d.stderr]).toEqual([0, 0, ""]);
      const word = script.find((w) => w === "main" || w === "log/main")!;
      expect(o.stderr).toBe(`multilog: warning: ignoring ${word}: not an action; a directory must start with . or / (./${word})\n`);
      expect(snapshot(ours)).toEqual(snapshot(deb));
    }
    expect(existsSync(join(ours, "main"))).toBe(false);
    expect(existsSync(join(ours, "kept", "current"))).toBe(true);
  });

  test("called as poppin log: same wording with our prefix; no script is a usage error", () => {
    const { ours } = pair(base, "prefix");
    const poppin = process.env.POPPIN_BIN ?? join(import.meta.dir, "..", "..", "dist", "poppin");
    const r = runLogger(poppin, ours, ["log", "t", "./missing/deeper"], "x\n");
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("poppin log: fatal: unable to open directory ./missing/deeper: file does not exist\n");
    const u = runLogger(poppin, ours, ["log"], "x\n");
    expect(u.code).toBe(100);
    expect(u.stderr).toContain("usage:");
  });
});

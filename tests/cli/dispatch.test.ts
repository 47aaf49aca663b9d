import { describe, expect, test } from "bun:test";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, run, tempDir } from "../helpers.ts";

describe("dispatch", () => {
  test("poppin alone lists every applet", () => {
    const r = run([POPPIN]);
    expect(r.code).toBe(0);
    for (const name of ["serve", "rules", "popup", "checkpassword", "pop3d", "log", "maildirmake", "deliver", "install"]) {
      expect(r.out).toContain(`  ${name} `);
    }
  });

  test("--version prints the package version", () => {
    const r = run([POPPIN, "--version"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^poppin \d+\.\d+\.\d+\n$/);
  });

  test("unknown applet is a usage error naming the known ones", () => {
    const r = run([POPPIN, "frobnicate"]);
    expect(r.code).toBe(100);
    expect(r.stderr).toContain("unknown applet frobnicate");
    expect(r.stderr).toContain("tcprules");
    // Every applet `poppin --help` lists is among the known names (config was missing).
    const known = r.stderr.split("; known: ")[1]!.trim().split(" ");
    const listed = [...run([POPPIN]).out.matchAll(/^  ([a-z0-9]+) /gm)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(20);
    expect(listed.filter((name) => !known.includes(name))).toEqual([]);
  });

  test("unknown symlink name is a usage error", () => {
    const dir = tempDir("disp");
    symlinkSync(POPPIN, join(dir, "frob"));
    const r = run([join(dir, "frob")]);
    expect(r.code).toBe(100);
    expect(r.stderr).toContain("unknown applet name frob");
  });

  test("help APPLET and APPLET --help print usage under the called name", () => {
    const a = run([POPPIN, "help", "tcprules"]);
    expect(a.code).toBe(0);
    expect(a.out).toStartWith("usage: tcprules ");
    const b = run([applet("maildirmake"), "--help"]);
    expect(b.code).toBe(0);
    expect(b.out).toStartWith("usage: maildirmake ");
    const d = run([POPPIN, "help", "cdbmake"]);
    expect(d.out).toBe("usage: cdbmake CDB TMP < records\n");
    const c = run([POPPIN, "help", "nope"]);
    expect(c.code).toBe(100);
  });
});

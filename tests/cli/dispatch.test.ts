import { describe, expect, test } from "bun:test";
import { lstatSync, readlinkSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, run, tempDir } from "../helpers.ts";
import { ALIASES } from "../../mod/cli/applet_table.ts";

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
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown applet frobnicate");
    expect(r.stderr).toContain("tcprules");
  });

  test("unknown symlink name is a usage error", () => {
    const dir = tempDir("disp");
    symlinkSync(POPPIN, join(dir, "frob"));
    const r = run([join(dir, "frob")]);
    expect(r.code).toBe(2);
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
    expect(c.code).toBe(2);
  });
});

describe("install", () => {
  test("creates a symlink for every name, idempotently", () => {
    const dir = tempDir("inst");
    const first = run([POPPIN, "install", "--prefix", dir]);
    expect(first.code).toBe(0);
    for (const a of ALIASES) {
      expect(lstatSync(join(dir, a.name)).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(dir, a.name))).toBe(POPPIN);
    }
    const second = run([POPPIN, "install", "--prefix", dir]);
    expect(second.code).toBe(0);
    expect(second.out).toContain(`0 created, 0 replaced, ${ALIASES.length} already in place`);
  });

  test("refuses to replace a foreign file without --force, then replaces it and says so", () => {
    const dir = tempDir("inst");
    writeFileSync(join(dir, "tcpserver"), "#!/bin/sh\necho original\n");
    const refused = run([POPPIN, "install", "--prefix", dir]);
    expect(refused.code).toBe(100);
    expect(refused.stderr).toContain(`refusing to replace ${dir}/tcpserver`);
    expect(readFileSync(join(dir, "tcpserver"), "utf8")).toContain("original");
    expect(() => lstatSync(join(dir, "tcprules"))).toThrow();
    const forced = run([POPPIN, "install", "--prefix", dir, "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toContain(`replaced ${dir}/tcpserver`);
    expect(readlinkSync(join(dir, "tcpserver"))).toBe(POPPIN);
  });

  test("a missing prefix directory is a clear error", () => {
    const r = run([POPPIN, "install", "--prefix", "/nonexistent/dir"]);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("unable to install into /nonexistent/dir");
  });
});

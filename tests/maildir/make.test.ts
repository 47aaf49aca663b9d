import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempError } from "../../mod/cli/errors.ts";
import { maildirMake } from "../../mod/maildir/make.ts";
import { POPPIN, applet, requireTool, run, tempDir } from "../helpers.ts";

// Debian ships no qmail maildirmake to compare with, so these check qmail's documented
// behaviour from its source (maildirmake.c): umask 077, mkdir DIR, tmp, new, cur with 0700;
// "maildirmake: fatal: unable to mkdir X: <error_str>" and exit 111; usage exit 100.

const mode = (path: string) => statSync(path).mode & 0o7777;

describe("maildirmake (classic name)", () => {
  test("creates DIR, tmp, new, cur with mode 0700 even under umask 000 and prints nothing", () => {
    const base = tempDir("mkmd");
    const r = run(["/bin/sh", "-c", 'umask 000; exec "$0" "$1"', applet("maildirmake"), join(base, "M")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.out).toBe("");
    expect(readdirSync(join(base, "M")).sort()).toEqual(["cur", "new", "tmp"]);
    for (const sub of ["", "tmp", "new", "cur"]) expect(mode(join(base, "M", sub))).toBe(0o700);
  });

  test("a relative name works from the current directory; extra arguments are ignored as qmail does", () => {
    const base = tempDir("mkrel");
    const r = run([applet("maildirmake"), "Maildir", "ignored"], { cwd: base });
    expect(r.code).toBe(0);
    expect(readdirSync(base)).toEqual(["Maildir"]);
  });

  test("no argument: qmail's usage line and exit 100", () => {
    const r = run([applet("maildirmake")]);
    expect(r.code).toBe(100);
    expect(r.stderr).toBe("maildirmake: usage: maildirmake name\n");
  });

  test("DIR exists: exit 111, qmail's message, and nothing touched", () => {
    const base = tempDir("mkex");
    mkdirSync(join(base, "M"));
    writeFileSync(join(base, "M", "keep"), "x");
    const r = run([applet("maildirmake"), "M"], { cwd: base });
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("maildirmake: fatal: unable to mkdir M: file already exists\n");
    expect(readdirSync(join(base, "M"))).toEqual(["keep"]);
  });

  test("missing parent: exit 111 and 'file does not exist'", () => {
    const base = tempDir("mknp");
    const r = run([applet("maildirmake"), "no/such/M"], { cwd: base });
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("maildirmake: fatal: unable to mkdir no/such/M: file does not exist\n");
  });

  test("parent is a file: 'not a directory'", () => {
    const base = tempDir("mknd");
    writeFileSync(join(base, "f"), "");
    const r = run([applet("maildirmake"), "f/M"], { cwd: base });
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("maildirmake: fatal: unable to mkdir f/M: not a directory\n");
  });
});

describe("maildirmake failing half-way", () => {
  test("out of inodes after tmp/: qmail's 'unable to mkdir M/new: ...', exit 111, DIR and tmp/ left", () => {
    requireTool("mount");
    const mnt = tempDir("mkfull");
    // Three inodes: the file system's root, M, and M/tmp; M/new has none left.
    const m = run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=3", "tmpfs", mnt]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    try {
      const r = run([applet("maildirmake"), "M"], { cwd: mnt });
      expect(r.code).toBe(111);
      expect(r.stderr).toBe("maildirmake: fatal: unable to mkdir M/new: out of disk space\n");
      expect(readdirSync(join(mnt, "M"))).toEqual(["tmp"]);
    } finally {
      run(["umount", mnt]);
    }
  });
});

describe("poppin maildirmake", () => {
  test("same wording with poppin's prefix; usage exits 100", () => {
    const base = tempDir("mkpp");
    expect(run([POPPIN, "maildirmake", "M"], { cwd: base }).code).toBe(0);
    const again = run([POPPIN, "maildirmake", "M"], { cwd: base });
    expect(again.code).toBe(111);
    expect(again.stderr).toBe("poppin maildirmake: fatal: unable to mkdir M: file already exists\n");
    const u = run([POPPIN, "maildirmake"]);
    expect(u.code).toBe(100);
    expect(u.stderr).toBe("poppin maildirmake: usage: maildirmake name\n");
  });
});

describe("maildirMake (library)", () => {
  test("stops at the first failure with qmail's DIR/sub wording, leaving what it made", () => {
    const base = tempDir("mklib");
    const dir = join(base, "M");
    mkdirSync(dir);
    expect(() => maildirMake(dir)).toThrow(TempError);
    expect(() => maildirMake(dir)).toThrow(`unable to mkdir ${dir}: file already exists`);
    maildirMake(join(base, "N"));
    expect(readdirSync(join(base, "N")).sort()).toEqual(["cur", "new", "tmp"]);
  });
});

/**
 * The binary takes nothing from the directory it is started in. Bun's compiled executables
 * read `bunfig.toml` (whose `preload` runs code) and `.env` (variables) from the working
 * directory unless built with --no-compile-autoload-bunfig --no-compile-autoload-dotenv:
 * serve runs as root from wherever its run script is, deliver and checkpassword from any
 * directory, so a file a local user can place there would run as root or set its
 * variables. (It also saves each start the directory scan.)
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";

describe("working directory", () => {
  test("a bunfig.toml preload and a .env in the working directory are ignored", () => {
    const dir = tempDir("cwdcfg");
    const marker = join(dir, "preload-ran");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.js"]\n');
    writeFileSync(join(dir, "preload.js"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\nconsole.error("PRELOAD RAN");\n`);
    writeFileSync(join(dir, ".env"), "POPPIN_FROM_DOTENV=yes\n");
    mkdirSync(join(dir, "envdir"));
    // envdir runs env with poppin's own environment: what a .env would have added shows.
    const r = run([POPPIN, "envdir", "envdir", "/usr/bin/env"], { cwd: dir, env: { PATH: "/usr/bin:/bin" } });
    expect(r.code).toBe(0);
    expect(r.out).toContain("PATH=/usr/bin:/bin"); // env ran and printed poppin's environment
    expect(r.out).not.toContain("POPPIN_FROM_DOTENV");
    expect(r.stderr).not.toContain("PRELOAD RAN");
    expect(run(["/bin/ls", dir]).out).not.toContain("preload-ran");
  });
});

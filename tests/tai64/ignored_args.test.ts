/**
 * `tai64nlocal current` for `tai64nlocal < current`: daemontools ignores the argument and reads
 * standard input (on a terminal: it seems to hang). Ours does the same, output and exit code as
 * Debian's, and first says on stderr that the file is not read.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, tempDir } from "../helpers.ts";

test("a file named as an argument: read stdin as daemontools does, and say the file is ignored", () => {
  const dir = tempDir("tai64args");
  const current = join(dir, "current");
  writeFileSync(current, "@400000006b11c08c255ab0d4 from the file\n");
  const stdin = "@400000006b11c08c255ab0d4 from stdin\n";
  for (const name of ["tai64nlocal", "tai64n"]) {
    const debian = run([requireTool(name), current, "not-a-file"], { stdin, env: { TZ: "UTC" } });
    const ours = run([applet(name), current, "not-a-file"], { stdin, env: { TZ: "UTC" } });
    expect(debian.stderr).toBe("");
    expect([ours.code, name === "tai64n" ? ours.out.length : ours.out]).toEqual([debian.code, name === "tai64n" ? debian.out.length : debian.out]);
    expect(ours.stderr).toBe(`${name}: warning: ignoring ${current}: ${name} reads standard input only (${name} < ${current})\n`);
  }
  expect(run([POPPIN, "tai64nlocal", current], { stdin }).stderr).toBe(`poppin tai64nlocal: warning: ignoring ${current}: poppin tai64nlocal reads standard input only (poppin tai64nlocal < ${current})\n`);
  // No argument, no word.
  expect(run([applet("tai64nlocal")], { stdin }).stderr).toBe("");
});

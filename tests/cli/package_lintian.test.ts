/**
 * lintian on what `npm run package` makes: nothing but the placeholder maintainer address (a
 * real one is the packager's to give). It found a missing changelog, a copyright file without
 * a notice or licence text, and a binary reading dpkg's database directly; what a Bun binary
 * cannot help (unstripped: strip cuts off the program; its embedded image libraries) is
 * overridden in /usr/share/lintian/overrides/poppin.
 */
import { expect, test } from "bun:test";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { buildPackage, debianArch } from "../../scripts/package.ts";

test("lintian reports nothing but the placeholder maintainer address", () => {
  const lintian = requireTool("lintian");
  const deb = buildPackage({ binary: POPPIN, outDir: tempDir("lintian"), version: "0.1.0", arch: debianArch() });
  const lint = run([lintian, "--tag-display-limit", "0", deb], { timeoutMs: 90_000 });
  const tags = lint.out.split("\n").filter((l) => /^[EWIXP]: /.test(l)).map((l) => l.split(" ")[2]);
  expect(tags).toContain("bogus-mail-host"); // the output is read: the one tag we expect is there
  expect(tags.filter((t) => !t!.startsWith("bogus-mail-host"))).toEqual([]);
}, 120_000);

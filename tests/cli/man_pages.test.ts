/**
 * One man page per applet, checked against the applet's own --help so they cannot drift: every
 * applet of the table has docs/man/poppin-APPLET.8.scd, every option its usage lists is in the
 * page in bold (*-c*, *--prefix*), the pages compile with scdoc, and `man poppin-serve` works
 * after `poppin install`.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, ROOT, requireTool, run, tempDir } from "../helpers.ts";
import { APPLETS } from "../../mod/cli/applet_table.ts";
import { buildManPages, MAN_SOURCE } from "../../scripts/man.ts";
import { ENV } from "../../mod/base/env.ts";
import { SIZE_CACHE_FILE } from "../../mod/maildir/size_cache.ts";
import { UIDL_MAP_NAME } from "../../mod/maildir/uidl_map.ts";
import { SEEN_FILE } from "../../mod/bulletin/bulletins.ts";

/**
 * The options a usage text names, in its usage lines and its indented option lines (not in the
 * prose): -c, --per-ip, and each letter of a cluster such as -1UXpP. Upper-case long words such
 * as --NAME are placeholders; a single upper-case letter (-B, -U) is an option.
 */
export function usageOptions(help: string): string[] {
  const found = new Set<string>();
  const lines = help.split("\n").filter((line) => line.startsWith("usage:") || /^\s/.test(line));
  for (const m of lines.join("\n").matchAll(/(?<=^|[\s[(,|])(--?)([A-Za-z0-9][A-Za-z0-9-]*)/g)) {
    const [, dashes, word] = m;
    if (dashes === "--" && /^[A-Z][A-Z-]*$/.test(word!)) continue;
    if (dashes === "--") found.add(`--${word}`);
    else for (const letter of word!) found.add(`-${letter}`);
  }
  return [...found];
}

/**
 * The options a man page documents: bold words at the start of a line or after "[" in its
 * SYNOPSIS and OPTIONS sections (*-f* _FILE_, [*--keep*], *--lock=*_M_), not the prose.
 */
export function pageOptions(source: string): string[] {
  const sections = source.split(/\n# /).filter((s) => s.startsWith("SYNOPSIS") || s.startsWith("OPTIONS")).join("\n");
  const found = new Set<string>();
  for (const m of sections.matchAll(/(?:^|\[)\*(--?)([A-Za-z0-9][A-Za-z0-9-]*)/gm)) {
    const [, dashes, word] = m;
    if (dashes === "--") found.add(`--${word}`);
    else for (const letter of word!) found.add(`-${letter}`);
  }
  return [...found];
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("man pages", () => {
  test("the option extractor reads clusters, long options and options with values", () => {
    expect(usageOptions("usage: x [ -1Uv ] [ -c limit ] [ -B banner ] [--per-ip n] [--compat=qmail|rfc] [--NAME=V] name-with-dash\nprose: ln -s\n  --force  text")).toEqual(["-1", "-U", "-v", "-c", "-B", "--per-ip", "--compat", "--force"]);
    expect(pageOptions("poppin-x(8)\n\n# SYNOPSIS\n\n*x* [*-f* _FILE_] [*-1Uv*] [*--keep*]\n\n# OPTIONS\n\n*--lock=*_M_\n\t*-ERR* in prose\n\n# EXIT STATUS\n\n*--not-here*\n")).toEqual(["-f", "-1", "-U", "-v", "--keep", "--lock"]);
  });

  for (const a of APPLETS) {
    test(`poppin-${a.name}(8) exists and documents every option of poppin ${a.name} --help`, () => {
      const page = join(MAN_SOURCE, `poppin-${a.name}.8.scd`);
      expect(existsSync(page)).toBe(true);
      const source = readFileSync(page, "utf8");
      expect(source.split("\n")[0]).toStartWith(`poppin-${a.name}(8)`);
      for (const section of ["# NAME", "# SYNOPSIS", "# DESCRIPTION", "# EXIT STATUS", "# SEE ALSO"]) expect(source).toContain(`\n${section}\n`);
      const help = run([POPPIN, a.name, "--help"]).out;
      const missing = usageOptions(help).filter((option) => !new RegExp(`\\*${escape(option)}(?![A-Za-z0-9-])`).test(source));
      expect(missing).toEqual([]);
      // And the other way: an option the page documents is one --help lists (else the page
      // describes an option the applet does not take, or --help hides one it does).
      const listed = new Set(usageOptions(help));
      const unlisted = pageOptions(source).filter((option) => !listed.has(option));
      expect(unlisted).toEqual([]);
      // poppin(8) lists the applet.
      expect(readFileSync(join(MAN_SOURCE, "poppin.8.scd"), "utf8")).toContain(`*poppin-${a.name}*(8)`);
    });
  }

  test("environment: each variable of configuration.md's table is in the page of every applet that reads it, and every POPPIN_* variable is in the table", () => {
    const page = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
    const section = page.split("## Environment variables")[1]!.split("\n## ")[0]!;
    const missing: string[] = [];
    for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
      const [names, readers] = row.slice(1).split("|").map((cell) => cell.trim());
      if (readers!.startsWith("set by")) continue; // popup sets them for its chain
      const applets = readers!.match(/\b(popup|pop3d|checkpassword|serve|users|qmqpd|doctor|proxy)\b/g) ?? [];
      for (const name of names!.match(/`([A-Z_]+)`/g)!.map((n) => n.slice(1, -1))) {
        for (const applet of applets) {
          if (!readFileSync(join(MAN_SOURCE, `poppin-${applet}.8.scd`), "utf8").includes(name)) missing.push(`${name} in poppin-${applet}(8)`);
        }
      }
    }
    expect(missing).toEqual([]);
    const undocumented = Object.values(ENV).map((v) => v.name).filter((name) => !section.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  test("FILES: what pop3d and convert leave in a Maildir, and what conf makes, are named in their pages", () => {
    const files = (applet: string) => readFileSync(join(MAN_SOURCE, `poppin-${applet}.8.scd`), "utf8").split("\n# FILES\n")[1]?.split("\n# ")[0] ?? "";
    for (const name of [SIZE_CACHE_FILE, UIDL_MAP_NAME, SEEN_FILE, ".poppin-cache", ".poppin-journal"]) expect(files("pop3d")).toContain(name);
    expect(files("convert")).toContain(UIDL_MAP_NAME);
    // conf: every file it makes in a fresh service directory.
    const dir = join(tempDir("conffiles"), "pop3d");
    expect(run([POPPIN, "conf", "pop3d", "/bin/true", "nobody", dir]).code).toBe(0);
    for (const name of readdirSync(dir)) expect([name, files("conf").includes(`_DIR_/${name}`)]).toEqual([name, true]);
  });

  test("every page compiles with scdoc and renders with man; man poppin-serve works after poppin install", () => {
    requireTool("scdoc");
    requireTool("man");
    const build = tempDir("manbuild");
    copyFileSync(POPPIN, join(build, "poppin"));
    const pages = buildManPages(join(build, "man"));
    const sources = readdirSync(MAN_SOURCE).filter((f) => f.endsWith(".scd"));
    expect(pages.length).toBe(sources.length);
    for (const page of pages) {
      const r = run(["man", "-l", "-P", "cat", page], { env: { PATH: process.env.PATH, MANWIDTH: "80", LANG: "C.UTF-8" } });
      expect(r.code).toBe(0);
      expect(r.out).toContain("NAME");
    }
    const prefix = tempDir("manprefix");
    const installed = run([join(build, "poppin"), "install", "--prefix", prefix]);
    expect(installed.code).toBe(0);
    expect(installed.out).toContain(`${pages.length} man pages in ${prefix}/share/man`);
    const env = { PATH: process.env.PATH, MANPATH: join(prefix, "share", "man"), MANWIDTH: "80", LANG: "C.UTF-8" };
    const serve = run(["man", "-P", "cat", "poppin-serve"], { env });
    expect(serve.stderr).toBe("");
    expect(serve.code).toBe(0);
    expect(serve.out).toContain("tcpserver");
    expect(serve.out).toContain("--per-ip");
    expect(run(["man", "-P", "cat", "5", "poppin.conf"], { env }).out).toContain("clear-text-password");
    expect(existsSync(join(ROOT, "docs", "man", "README.md"))).toBe(true);
  });
});

import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { importCycles } from "../../scripts/import_cycles.ts";

const MOD = join(import.meta.dir, "..", "..", "mod");

describe("module layering", () => {
  test("no import cycles under mod/", () => {
    expect(importCycles(MOD)).toEqual([]);
  });

  test("the cycle finder finds a cycle through a type import and a re-export", () => {
    const dir = mkdtempSync(join(tmpdir(), "cycles-"));
    mkdirSync(join(dir, "a"));
    writeFileSync(join(dir, "a", "one.ts"), 'import type { Two } from "../two.ts";\nexport type One = Two;\n');
    writeFileSync(join(dir, "two.ts"), 'export { three } from "./three.ts";\nexport type Two = number;\n');
    writeFileSync(join(dir, "three.ts"), 'import {\n  x,\n} from "./a/one.ts";\nexport const three = 3;\n');
    writeFileSync(join(dir, "free.ts"), 'import { three } from "./three.ts";\n');
    expect(importCycles(dir).map((cycle) => [...cycle].sort())).toEqual([["a/one.ts", "three.ts", "two.ts"]]);
  });

  test("mod/base imports nothing of poppin's but itself (it sits below cli/ and every layer)", () => {
    const base = join(MOD, "base");
    for (const name of readdirSync(base)) {
      const text = readFileSync(join(base, name), "utf8");
      for (const m of text.matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g)) expect(`${name}: ${m[1]}`).toMatch(/: (\.\/[^/]+|\.\.\/\.\.\/package\.json)$/);
    }
  });

  /** Every relative import under mod/: [importing file, imported file], both relative to mod/. */
  function imports(): [string, string][] {
    const out: [string, string][] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, name.name);
        if (name.isDirectory()) walk(path);
        else if (name.name.endsWith(".ts")) {
          for (const m of readFileSync(path, "utf8").matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']/gm)) {
            out.push([relative(MOD, path), relative(MOD, resolve(dirname(path), m[1]!))]);
          }
        }
      }
    };
    walk(MOD);
    return out;
  }

  test("engine -> service -> hosts: no layer imports one above it", () => {
    const HOSTS = ["applets/", "cli/", "serve/", "standalone/", "proxy/"];
    const above: Record<string, string[]> = { "pop3/": ["session/", ...HOSTS], "session/": HOSTS, "policy/": ["session/", ...HOSTS] };
    const wrong = imports().filter(([from, to]) => Object.entries(above).some(([layer, banned]) => from.startsWith(layer) && banned.some((b) => to.startsWith(b))));
    expect(wrong).toEqual([]);
  });

  test("files named _*.ts are imported only from their own folder", () => {
    const wrong = imports().filter(([from, to]) => basename(to).startsWith("_") && dirname(from) !== dirname(to));
    expect(wrong).toEqual([]);
  });

  test("each layer's folder has an entry file that says what it offers", () => {
    for (const folder of ["base", "pop3", "session", "serve", "standalone", "applets"]) {
      const text = readFileSync(join(MOD, folder, "mod.ts"), "utf8");
      expect(text).toStartWith(`/**\n * ${folder} — `);
      expect(text).toContain("export ");
    }
  });
});

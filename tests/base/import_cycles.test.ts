import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
      for (const m of text.matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g)) expect(`${name}: ${m[1]}`).toMatch(/: \.\/[^/]+$/);
    }
  });
});

/**
 * Finds import cycles among the TypeScript files under a directory (default mod/): every
 * relative `import ... from "./x.ts"` and `export ... from` counts, `import type` too (a cycle
 * of types still ties two modules together). Prints each cycle once; exits 1 if there is any.
 * Usage: bun scripts/import_cycles.ts [DIR]
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']/gm;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Every cycle in the import graph of the .ts files under `root`, each as the list of its files (relative to root). */
export function importCycles(root: string): string[][] {
  const files = sources(resolve(root));
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    edges.set(file, [...text.matchAll(IMPORT)].map((m) => resolve(dirname(file), m[1]!)).filter((to) => edges.has(to) || files.includes(to)));
  }
  const cycles = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const to of edges.get(file) ?? []) {
      if (state.get(to) === "open") {
        const cycle = stack.slice(stack.indexOf(to)).map((f) => relative(resolve(root), f));
        cycles.set([...cycle].sort().join(" "), cycle);
      } else if (state.get(to) === undefined) visit(to);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of files) if (state.get(file) === undefined) visit(file);
  return [...cycles.values()];
}

if (import.meta.main) {
  const cycles = importCycles(process.argv[2] ?? "mod");
  for (const cycle of cycles) console.log([...cycle, cycle[0]].join(" -> "));
  process.exit(cycles.length === 0 ? 0 : 1);
}

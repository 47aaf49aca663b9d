/**
 * `npm run bench`: runs every bench/*.bench.ts in turn (each prints its own table of figures
 * and ratios against the reference tool measured in the same run). Pass names to run some:
 * `bun bench/run.ts cdb log`.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n== ${file}`);
  const r = Bun.spawnSync([process.execPath, join(dir, file)], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) {
    failed++;
    console.log(`${file} failed with exit code ${r.exitCode}`);
  }
}
process.exit(failed === 0 ? 0 : 1);

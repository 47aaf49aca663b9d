/**
 * `npm run man`: turns every docs/man/NAME.N.scd (scdoc(5) source) into dist/man/manN/NAME.N
 * with scdoc (Debian package scdoc). `poppin install` installs them from dist/man.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
export const MAN_SOURCE = join(ROOT, "docs", "man");

/** Compiles every page of `source` into `out`/manN/; returns the paths written. */
export function buildManPages(out: string, source: string = MAN_SOURCE): string[] {
  const scdoc = Bun.which("scdoc");
  if (!scdoc) throw new Error("scdoc is missing: apt-get install scdoc");
  const written: string[] = [];
  for (const file of readdirSync(source).filter((f) => f.endsWith(".scd")).sort()) {
    const m = /^(.+)\.([1-8])\.scd$/.exec(file);
    if (!m) throw new Error(`${file}: a man page source is named NAME.SECTION.scd (poppin-serve.8.scd)`);
    const r = Bun.spawnSync([scdoc], { stdin: readFileSync(join(source, file)), stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`scdoc ${file}: ${r.stderr.toString().trim()}`);
    const dir = join(out, `man${m[2]}`);
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, `${m[1]}.${m[2]}`);
    writeFileSync(`${dest}.tmp`, r.stdout);
    renameSync(`${dest}.tmp`, dest);
    written.push(dest);
  }
  return written;
}

if (import.meta.main) {
  try {
    const out = resolve(process.argv[2] ?? join(ROOT, "dist", "man"));
    const pages = buildManPages(out);
    console.log(`${pages.length} man pages in ${out}`);
  } catch (err) {
    console.error(`man: fatal: ${(err as Error).message}`);
    process.exit(111);
  }
}

/**
 * The reliability table in one run: the fuzz campaign (scripts/fuzz/campaign.ts), the kill -9
 * campaign (scripts/fuzz/kill_campaign.ts) and the soak (bench/soak.ts), each bounded by a
 * flag, then one table for the README. Defaults are a short run (minutes); the full one is
 *   POPPIN_BIN=dist/poppin bun bench/reliability.ts --fuzz-runs 10000000 --kill-rounds 1000 --soak-seconds 3600
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const opts = { "fuzz-runs": 100000, "kill-rounds": 100, "soak-seconds": 120 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i]!.replace(/^--/, "") as keyof typeof opts;
  if (!(key in opts)) throw new Error("usage: bun bench/reliability.ts [--fuzz-runs N] [--kill-rounds N] [--soak-seconds N]");
  opts[key] = Number(process.argv[i + 1]);
}
const root = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "poppin-reliability-"));
const bun = process.execPath;

function step(args: string[]): { code: number; out: string } {
  console.error(`running: bun ${args.join(" ")}`);
  const r = Bun.spawnSync([bun, ...args], { cwd: root, stdout: "pipe", stderr: "inherit", env: process.env });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() };
}

const fuzz = step(["scripts/fuzz/campaign.ts", "--runs", String(opts["fuzz-runs"]), "--batch", String(Math.min(100000, opts["fuzz-runs"])), "--json", join(work, "fuzz.json")]);
const kill = step(["scripts/fuzz/kill_campaign.ts", "--rounds", String(opts["kill-rounds"])]);
const soak = step(["bench/soak.ts", "--seconds", String(opts["soak-seconds"]), "--interval", String(Math.max(10, Math.floor(opts["soak-seconds"] / 10))), "--json", join(work, "soak.json")]);

console.log("### Fuzzing\n");
console.log(fuzz.out.split("\n").filter((l) => l.startsWith("|")).join("\n"));
console.log("\n### kill -9\n");
console.log(kill.out.split("\n").filter((l) => l.startsWith("|") || l.startsWith("  ")).join("\n"));
console.log("\n### Soak\n");
const s = JSON.parse(readFileSync(join(work, "soak.json"), "utf8")) as { total: number; failures: number; rows: { rssMb: number; fds: number; p50: number; p99: number }[]; flat: boolean; rssGrowth: number };
// (rssMb and fds are the server process's own; see bench/soak.ts)
const rss = s.rows.map((r) => r.rssMb);
console.log(`| seconds | sessions | failed | server RSS MB min / max / last | server fds max | p50 / p99 ms (last interval) | flat |`);
console.log(`| ---: | ---: | ---: | --- | ---: | --- | --- |`);
const last = s.rows.at(-1);
console.log(`| ${opts["soak-seconds"]} | ${s.total} | ${s.failures} | ${Math.min(...rss).toFixed(0)} / ${Math.max(...rss).toFixed(0)} / ${rss.at(-1)?.toFixed(0)} | ${Math.max(...s.rows.map((r) => r.fds))} | ${last?.p50.toFixed(0)} / ${last?.p99.toFixed(0)} | ${s.flat ? "yes" : "no"} |`);
rmSync(work, { recursive: true, force: true });
process.exitCode = fuzz.code === 0 && kill.code === 0 && soak.code === 0 ? 0 : 1;

/**
 * The long fuzz campaign (run outside CI): every target of registry.ts on --runs inputs
 * (default 10^7), in batches of --batch inputs from consecutive seeds. Each batch runs in
 * its own process with a wall-clock bound, so a hang is caught (and named by its seed)
 * and memory is measured per batch: a batch that fails, hangs or grows past --max-rss-mb
 * is a finding, printed with the command that reproduces it. Batches get TMPDIR=/dev/shm when
 * it exists and TMPDIR is unset: targets that write files (cdb-reader, config-file) then do
 * not wait on the disk's fsync (cdb-reader: 2.3 ms -> 0.32 ms per input here).
 *
 *   bun scripts/fuzz/campaign.ts [--runs N] [--batch N] [--seed S] [--target NAME]... [--timeout S] [--max-rss-mb N] [--json FILE]
 */
import { existsSync, writeFileSync } from "node:fs";
import { FUZZ_TARGETS } from "./registry.ts";

interface Options { runs: number; batch: number; seed: number; targets: string[]; timeoutS: number; maxRssMb: number; json?: string }

function parseOptions(argv: string[]): Options {
  const o: Options = { runs: 10_000_000, batch: 100_000, seed: 1, targets: [], timeoutS: 900, maxRssMb: 1024 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i] ?? (() => { throw new Error(`${a} needs a value`); })();
    if (a === "--runs") o.runs = Number(v());
    else if (a === "--batch") o.batch = Number(v());
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--target") o.targets.push(v());
    else if (a === "--timeout") o.timeoutS = Number(v());
    else if (a === "--max-rss-mb") o.maxRssMb = Number(v());
    else if (a === "--json") o.json = v();
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** Child mode: one batch of one target; prints a JSON line. */
function runBatch(name: string, seed: number, runs: number): void {
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no target ${name}`);
  const started = performance.now();
  let failure: string | undefined;
  try {
    target.check(runs, seed);
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  const ms = performance.now() - started;
  console.log(JSON.stringify({ name, seed, runs, ms, rssMb: process.memoryUsage().rss / 2 ** 20, failure }));
}

interface TargetReport { name: string; module: string; inputs: number; seconds: number; maxRssMb: number; findings: string[] }

const childEnv: Record<string, string | undefined> = { ...process.env };
if (childEnv.TMPDIR === undefined && existsSync("/dev/shm")) childEnv.TMPDIR = "/dev/shm";

async function campaign(o: Options): Promise<TargetReport[]> {
  const targets = o.targets.length ? FUZZ_TARGETS.filter((t) => o.targets.includes(t.name)) : FUZZ_TARGETS;
  const reports: TargetReport[] = [];
  for (const target of targets) {
    const report: TargetReport = { name: target.name, module: target.module, inputs: 0, seconds: 0, maxRssMb: 0, findings: [] };
    for (let seed = o.seed; report.inputs < o.runs; seed++) {
      const runs = Math.min(o.batch, o.runs - report.inputs);
      const repro = `bun scripts/fuzz/campaign.ts --child ${target.name} ${seed} ${runs}`;
      const child = Bun.spawn([process.execPath, import.meta.path, "--child", target.name, String(seed), String(runs)], {
        stdout: "pipe", stderr: "pipe", env: childEnv, timeout: o.timeoutS * 1000, killSignal: "SIGKILL",
      });
      const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
      const code = await child.exited;
      const line = out.trim().split("\n").at(-1) ?? "";
      let result: { ms: number; rssMb: number; failure?: string } | undefined;
      try { result = JSON.parse(line); } catch { result = undefined; }
      if (result === undefined) {
        report.findings.push(`${code === null || child.signalCode ? `hang or crash (${child.signalCode ?? code})` : `exit ${code}`}: ${repro}\n${err.slice(-2000)}`);
        report.inputs += runs;
        continue;
      }
      report.inputs += runs;
      report.seconds += result.ms / 1000;
      report.maxRssMb = Math.max(report.maxRssMb, result.rssMb);
      if (result.failure) report.findings.push(`failure: ${repro}\n${result.failure.slice(0, 4000)}`);
      if (result.rssMb > o.maxRssMb) report.findings.push(`memory ${result.rssMb.toFixed(0)} MB: ${repro}`);
      console.error(`${target.name}: ${report.inputs} inputs, ${report.seconds.toFixed(0)} s, max RSS ${report.maxRssMb.toFixed(0)} MB, ${report.findings.length} findings`);
    }
    reports.push(report);
    if (o.json) writeFileSync(o.json, JSON.stringify(reports, null, 2));
  }
  return reports;
}

const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  runBatch(argv[1]!, Number(argv[2]), Number(argv[3]));
} else {
  const o = parseOptions(argv);
  const reports = await campaign(o);
  console.log("| target | module | inputs | seconds | inputs/s | max RSS MB | findings |");
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const r of reports) {
    console.log(`| ${r.name} | ${r.module} | ${r.inputs} | ${r.seconds.toFixed(0)} | ${(r.inputs / Math.max(r.seconds, 1e-9)).toFixed(0)} | ${r.maxRssMb.toFixed(0)} | ${r.findings.length} |`);
  }
  for (const r of reports) for (const f of r.findings) console.log(`\n${r.name}: ${f}`);
  process.exitCode = reports.some((r) => r.findings.length > 0) ? 1 : 0;
}

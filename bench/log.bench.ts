/**
 * multilog's throughput: `t s16777215 n10 ./main` on 1,000,000 lines, ours against
 * Debian's /usr/bin/multilog in the same run. Two ways of feeding it: stdin from a
 * file, and stdin from a pipe written in 64 KiB pieces (how a service's output
 * arrives). Prints lines/s, CPU per line (user + system of the logger alone) and the
 * ratios. Uses dist/poppin or $POPPIN_BIN; builds nothing.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const DEBIAN = "/usr/bin/multilog";
const LINES = 1_000_000;
const SCRIPT = ["t", "s16777215", "n10", "./main"];

if (!existsSync(POPPIN)) throw new Error(`${POPPIN} missing: npm run build first`);
if (!existsSync(DEBIAN)) throw new Error(`${DEBIAN} missing: apt-get install daemontools`);

const work = mkdtempSync(join(tmpdir(), "poppin-logbench-"));
const ours = join(work, "multilog");
symlinkSync(POPPIN, ours);

const parts: string[] = [];
for (let i = 0; i < LINES; i++) parts.push(`pop3d[${1000 + (i % 5000)}]: user${i % 97} retrieved message ${i} of ${i % 300} (${(i * 7919) % 100000} bytes)\n`);
const input = Buffer.from(parts.join(""));
const inputPath = join(work, "input");
writeFileSync(inputPath, input);

interface Result { seconds: number; cpuSeconds: number }

function fresh(label: string): string {
  const dir = join(work, label);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  return dir;
}

function check(dir: string): void {
  const files = readdirSync(join(dir, "main"));
  if (!files.includes("current")) throw new Error(`no current in ${dir}`);
}

function fromFile(bin: string, label: string): Result {
  const dir = fresh(label);
  const fd = openSync(inputPath, "r");
  const start = performance.now();
  const r = Bun.spawnSync([bin, ...SCRIPT], { cwd: dir, stdin: fd, stderr: "inherit" });
  const seconds = (performance.now() - start) / 1000;
  closeSync(fd);
  if (r.exitCode !== 0) throw new Error(`${bin} exited ${r.exitCode}`);
  check(dir);
  const usage = r.resourceUsage;
  return { seconds, cpuSeconds: Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 };
}

async function fromPipe(bin: string, label: string): Promise<Result> {
  const dir = fresh(label);
  const start = performance.now();
  const proc = Bun.spawn([bin, ...SCRIPT], { cwd: dir, stdin: "pipe", stderr: "inherit" });
  for (let i = 0; i < input.length; i += 65536) {
    proc.stdin.write(input.subarray(i, i + 65536));
    await proc.stdin.flush();
  }
  await proc.stdin.end();
  const code = await proc.exited;
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`${bin} exited ${code}`);
  check(dir);
  const usage = proc.resourceUsage()!;
  return { seconds, cpuSeconds: Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 };
}

function best(a: Result, b: Result): Result {
  return a.seconds <= b.seconds ? a : b;
}

function report(name: string, o: Result, d: Result): void {
  const rate = (r: Result) => (LINES / r.seconds / 1e6).toFixed(2);
  const perLine = (r: Result) => ((r.cpuSeconds / LINES) * 1e9).toFixed(0);
  console.log(`${name.padEnd(24)} ours ${rate(o)} M lines/s, ${perLine(o)} ns CPU/line   debian ${rate(d)} M lines/s, ${perLine(d)} ns CPU/line   time ratio ${(o.seconds / d.seconds).toFixed(2)}, CPU ratio ${(o.cpuSeconds / d.cpuSeconds).toFixed(2)}`);
}

try {
  console.log(`multilog ${SCRIPT.join(" ")} on ${LINES} lines (${(input.length / 1e6).toFixed(1)} MB), best of 2`);
  const fileOurs = best(fromFile(ours, "o1"), fromFile(ours, "o2"));
  const fileDeb = best(fromFile(DEBIAN, "d1"), fromFile(DEBIAN, "d2"));
  report("stdin from a file", fileOurs, fileDeb);
  const pipeOurs = best(await fromPipe(ours, "o3"), await fromPipe(ours, "o4"));
  const pipeDeb = best(await fromPipe(DEBIAN, "d3"), await fromPipe(DEBIAN, "d4"));
  report("stdin from a pipe", pipeOurs, pipeDeb);
} finally {
  rmSync(work, { recursive: true, force: true });
}

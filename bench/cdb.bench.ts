/**
 * cdb benchmark: build a cdb of 1,000,000 records and look up 1,000,000 random keys, ours
 * against Debian's freecdb (cdbmake, cdbget) measured in the same run.
 *  - build: `cdbmake` vs `poppin cdb make` on the same input (and the bytes must be identical);
 *  - lookups through processes: N `cdbget` runs each (a process per lookup, which is how
 *    scripts use it), per-lookup cost and ratio;
 *  - lookups in-process: our CdbReader over the same file, 1,000,000 random keys (what
 *    tcpserver-style callers do), as a rate; freecdb has no in-process equivalent to run here.
 * Uses $POPPIN_BIN or dist/poppin; bounded to well under a minute.
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CdbReader } from "../mod/cdb/reader.ts";

const RECORDS = 1_000_000;
const LOOKUPS = 1_000_000;
const PROCESS_LOOKUPS = Number(process.env.CDB_BENCH_PROCESSES ?? 200);
const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const dir = mkdtempSync(join(tmpdir(), "poppin-cdb-bench-"));

function which(name: string): string {
  const found = Bun.which(name, { PATH: "/usr/local/bin:/usr/bin:/bin" });
  if (!found) throw new Error(`${name} not installed (apt-get install freecdb)`);
  return found;
}

/** Deterministic key i: spread over the hash tables, as real keys are. */
const keyOf = (i: number): string => `user${(i * 2654435761) >>> 0}@example.com`;

function timed<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const out = fn();
  return [out, (performance.now() - start) / 1000];
}

function spawnOk(cmd: string[], stdinPath: string): void {
  const r = Bun.spawnSync(cmd, { stdin: Bun.file(stdinPath), stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString()}`);
}

try {
  const cdbmake = which("cdbmake");
  const cdbget = which("cdbget");
  symlinkSync(POPPIN, join(dir, "cdbmake"));
  symlinkSync(POPPIN, join(dir, "cdbget"));

  // Input: +klen,dlen:key->data lines, about 60 MB.
  const parts: string[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const key = keyOf(i);
    const data = `uid=${i};home=/home/u${i}`;
    parts.push(`+${key.length},${data.length}:${key}->${data}\n`);
  }
  parts.push("\n");
  const input = join(dir, "input");
  writeFileSync(input, parts.join(""));

  const [, theirsBuild] = timed(() => spawnOk([cdbmake, join(dir, "ref.cdb"), join(dir, "ref.tmp")], input));
  const [, oursBuild] = timed(() => spawnOk([join(dir, "cdbmake"), join(dir, "our.cdb"), join(dir, "our.tmp")], input));
  const identical = Buffer.compare(readFileSync(join(dir, "ref.cdb")), readFileSync(join(dir, "our.cdb"))) === 0;
  if (!identical) throw new Error("our cdb differs from cdbmake's");

  // Lookups through processes: the same random keys for both.
  const picks = Array.from({ length: PROCESS_LOOKUPS }, (_, j) => keyOf((j * 7919 + 13) % RECORDS));
  const cdb = join(dir, "ref.cdb");
  const [, theirsProc] = timed(() => { for (const k of picks) spawnOk([cdbget, k], cdb); });
  const [, oursProc] = timed(() => { for (const k of picks) spawnOk([join(dir, "cdbget"), k], cdb); });

  // In-process lookups with our reader: 1,000,000 random keys, all present.
  const reader = CdbReader.open(cdb);
  const enc = new TextEncoder();
  const keys = Array.from({ length: 4096 }, (_, j) => enc.encode(keyOf((j * 104729 + 7) % RECORDS)));
  let found = 0;
  const [, inProcess] = timed(() => {
    for (let i = 0; i < LOOKUPS; i++) if (reader.find(keys[i & 4095]) !== null) found++;
  });
  reader.close();
  if (found !== LOOKUPS) throw new Error(`only ${found} of ${LOOKUPS} keys found`);

  const size = readFileSync(cdb).length;
  const row = (label: string, ours: string, theirs: string, ratio: string): string => `${label.padEnd(44)}${ours.padStart(14)}${theirs.padStart(14)}${ratio.padStart(10)}`;
  console.log(`cdb: ${RECORDS} records, ${(size / 1e6).toFixed(1)} MB, bytes identical to cdbmake: ${identical}`);
  console.log(row("", "poppin", "freecdb", "ours/ref"));
  console.log(row(`build ${RECORDS} records (s)`, oursBuild.toFixed(2), theirsBuild.toFixed(2), (oursBuild / theirsBuild).toFixed(2)));
  console.log(row(`cdbget process per lookup (ms, N=${PROCESS_LOOKUPS})`, (oursProc / PROCESS_LOOKUPS * 1000).toFixed(2), (theirsProc / PROCESS_LOOKUPS * 1000).toFixed(2), (oursProc / theirsProc).toFixed(2)));
  console.log(row(`${LOOKUPS} lookups via cdbget processes (s, extrapolated)`, (oursProc / PROCESS_LOOKUPS * LOOKUPS).toFixed(0), (theirsProc / PROCESS_LOOKUPS * LOOKUPS).toFixed(0), (oursProc / theirsProc).toFixed(2)));
  console.log(row(`${LOOKUPS} lookups in-process, CdbReader (s)`, inProcess.toFixed(2), "-", "-"));
  console.log(`in-process rate: ${(LOOKUPS / inProcess / 1000).toFixed(0)}k lookups/s (${(inProcess / LOOKUPS * 1e6).toFixed(2)} µs each, positioned reads, no mmap)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

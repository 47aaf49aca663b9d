/** Shared pieces of the multilog tests: a seeded corpus, running a logger, snapshots of log directories. */
import { closeSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, type RunResult } from "../helpers.ts";
import { prng } from "../prng.ts";

/** Debian's multilog and ours, called by the classic name. */
export function debianMultilog(): string {
  return requireTool("multilog");
}
export function ourMultilog(): string {
  return applet("multilog");
}

export { prng };

/** Line lengths around every boundary multilog has: 200 (e), 974/1000 (line head with and without t), 1024 (reads). */
const LENGTHS = [0, 1, 7, 40, 80, 199, 200, 201, 511, 512, 513, 973, 974, 975, 999, 1000, 1001, 1023, 1024, 1025, 2500, 9000];
const ALPHABET = Buffer.from("abcdefghijklmnopqrstuvwxyz ABC*x-+.@0123456789\t\r\x00\x01\x7f\x80\xfe\xff");

/** `lines` numbered lines of mixed lengths and bytes, optionally without a final newline. */
export function corpus(seed: number, lines: number, finalNewline = false): Buffer {
  const rand = prng(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < lines; i++) {
    const len = rand() < 0.5 ? LENGTHS[Math.floor(rand() * LENGTHS.length)] : Math.floor(rand() * 120);
    const body = Buffer.alloc(len);
    for (let k = 0; k < len; k++) body[k] = ALPHABET[Math.floor(rand() * ALPHABET.length)];
    parts.push(Buffer.from(`${i} `), body, Buffer.from(i === lines - 1 && !finalNewline ? "" : "\n"));
  }
  return Buffer.concat(parts);
}

/** Runs a logger in `cwd` with stdin from a file (so its reads are deterministic, as multilog's are). */
export function runLogger(bin: string, cwd: string, script: string[], input: Buffer | string, env?: Record<string, string>): RunResult {
  const inputPath = join(cwd, "..", `input-${Math.random().toString(36).slice(2)}`);
  writeFileSync(inputPath, input);
  const fd = openSync(inputPath, "r");
  try {
    const r = Bun.spawnSync([bin, ...script], { cwd, stdin: fd, stdout: "pipe", stderr: "pipe", env: env ?? process.env, timeout: 60_000 });
    const stdout = new Uint8Array(r.stdout ?? new Uint8Array());
    return { code: r.exitCode ?? -1, stdout, stderr: r.stderr?.toString("latin1") ?? "", out: Buffer.from(stdout).toString("latin1") };
  } finally {
    closeSync(fd);
  }
}

/** TAI64N labels replaced, so two runs at different moments compare equal. */
export function maskLabels(text: string): string {
  return text.replace(/@4000[0-9a-fA-F]{20}/g, "@LABEL");
}

export interface FileEntry {
  name: string;
  mode: string;
  content: string;
}

/** Every file under `dir` in name order (rotated files in time order), names and contents masked. */
export function snapshot(dir: string, prefix = ""): FileEntry[] {
  const out: FileEntry[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = statSync(join(dir, rel));
    if (st.isDirectory()) {
      out.push({ name: `${rel}/`, mode: (st.mode & 0o7777).toString(8), content: "" });
      out.push(...snapshot(dir, rel));
    } else {
      out.push({ name: maskLabels(rel), mode: (st.mode & 0o7777).toString(8), content: maskLabels(readFileSync(join(dir, rel)).toString("latin1")) });
    }
  }
  return out;
}

/** Two fresh working directories, one per implementation. */
export function pair(base: string, label: string): { deb: string; ours: string } {
  const deb = join(base, `${label}-deb`);
  const ours = join(base, `${label}-ours`);
  mkdirSync(deb, { recursive: true });
  mkdirSync(ours, { recursive: true });
  return { deb, ours };
}

export { run };

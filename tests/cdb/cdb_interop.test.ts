/**
 * Interop: Debian's freecdb (cdbmake, cdbget, cdbdump) and ours on the same generated corpus.
 * The bulk runs our library in-process (a process per case would take minutes); a sample
 * goes through the compiled binary under the classic names to check the applet end to end.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { ByteSource } from "../../mod/cdb/byte_source.ts";
import { cdbDump } from "../../mod/cdb/dump.ts";
import { cdbGet } from "../../mod/cdb/get.ts";
import { readCdbmakeInput } from "../../mod/cdb/make_input.ts";
import { CdbReader } from "../../mod/cdb/reader.ts";
import { CdbWriter } from "../../mod/cdb/writer.ts";
import { PoppinError } from "../../mod/base/errors.ts";
import { breakInput, cdbmakeInput, int, pick, prng, recordSet, type CdbRecord } from "./corpus.ts";

const CASES = 240;
const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

interface Outcome { code: number; stdout: Uint8Array; stderr: string }

/** Our cdbmake, in-process: the same library calls as the applet. */
function ourMake(input: string, cdb: string, tmp: string): Outcome {
  const fd = openSync(input, "r");
  let writer: CdbWriter | undefined;
  try {
    writer = CdbWriter.create(tmp);
    readCdbmakeInput(new ByteSource(fd), writer);
    writer.commit(cdb);
    return { code: 0, stdout: new Uint8Array(), stderr: "" };
  } catch (err) {
    writer?.abort();
    if (!(err instanceof PoppinError)) throw err;
    return { code: err.exitCode, stdout: new Uint8Array(), stderr: `cdbmake: fatal: ${err.message}\n` };
  } finally {
    closeSync(fd);
  }
}

function collect(fn: (sink: (b: Uint8Array) => void) => void): Uint8Array {
  const parts: Uint8Array[] = [];
  fn((b) => parts.push(b.slice()));
  return Buffer.concat(parts);
}

/** Our cdbget on a file, in-process (the applet adds "unable to read input: " to reader errors). */
function ourGet(cdb: string, key: Uint8Array, skip: number): Outcome {
  const fd = openSync(cdb, "r");
  const parts: Uint8Array[] = [];
  try {
    const found = cdbGet(CdbReader.fromFd(fd), key, BigInt(skip), (b) => parts.push(b.slice()));
    return { code: found ? 0 : 100, stdout: Buffer.concat(parts), stderr: "" };
  } catch (err) {
    if (!(err instanceof PoppinError)) throw err;
    return { code: err.exitCode, stdout: Buffer.concat(parts), stderr: `cdbget: fatal: unable to read input: ${err.message}\n` };
  } finally {
    closeSync(fd);
  }
}

function ourDump(cdb: string): Outcome {
  const fd = openSync(cdb, "r");
  const parts: Uint8Array[] = [];
  try {
    cdbDump(new ByteSource(fd), (b) => parts.push(b.slice()));
    return { code: 0, stdout: Buffer.concat(parts), stderr: "" };
  } catch (err) {
    if (!(err instanceof PoppinError)) throw err;
    return { code: err.exitCode, stdout: Buffer.concat(parts), stderr: `cdbdump: fatal: ${err.message}\n` };
  } finally {
    closeSync(fd);
  }
}

function readOutcome(dir: string, name: string): Outcome {
  return {
    code: Number(readFileSync(join(dir, `${name}.rc`), "latin1").trim()),
    stdout: existsSync(join(dir, `${name}.out`)) ? new Uint8Array(readFileSync(join(dir, `${name}.out`))) : new Uint8Array(),
    stderr: readFileSync(join(dir, `${name}.err`), "latin1"),
  };
}

/** Our messages may add detail after the original's wording, never change it. */
function expectSameMessage(ours: string, theirs: string, n?: number): void {
  if (theirs === "") expect({ n, ours }).toEqual({ n, ours: "" });
  else expect({ n, ours: ours.slice(0, theirs.length - 1) }).toEqual({ n, ours: theirs.replace(/\n$/, "") });
}

/** Keys we can pass through argv in a shell script: no NUL, valid ASCII. */
const argvSafe = (key: Uint8Array): boolean => key.length > 0 && key.every((b) => b !== 0 && b < 0x80) && key[key.length - 1] !== 0x0a;

describe("cdbmake/cdbget/cdbdump interop with Debian freecdb", () => {
  requireTool("cdbmake");
  requireTool("cdbget");
  requireTool("cdbdump");
  const dir = tempDir("cdb-interop");
  for (const sub of ["in", "ref", "our", "keys"]) mkdirSync(join(dir, sub));
  const rng = prng(20261121);
  const sets: (CdbRecord[] | null)[] = [];
  const gets: { n: number; q: number; key: Uint8Array; skip: number }[] = [];
  const script: string[] = ["set -u", `cd ${sh(dir)}`];
  for (let n = 0; n < CASES; n++) {
    const records = recordSet(rng);
    let input = cdbmakeInput(records);
    const broken = n % 5 === 4;
    if (broken) input = breakInput(rng, input);
    sets.push(broken ? null : records);
    writeFileSync(join(dir, "in", String(n)), input);
    script.push(`cdbmake ref/${n}.cdb ref/${n}.tmp < in/${n} 2> ref/${n}.make.err; echo $? > ref/${n}.make.rc`);
    script.push(`[ -f ref/${n}.cdb ] && { cdbdump < ref/${n}.cdb > ref/${n}.dump.out 2> ref/${n}.dump.err; echo $? > ref/${n}.dump.rc; }`);
    if (broken) continue;
    const candidates = records.filter((r) => argvSafe(r.key));
    for (let q = 0; q < 3; q++) {
      const key = q === 2 || candidates.length === 0 ? new TextEncoder().encode(`missing-${n}`) : pick(rng, candidates).key;
      const skip = pick(rng, [0, 0, 1, 2]);
      gets.push({ n, q, key, skip });
      writeFileSync(join(dir, "keys", `${n}.${q}`), key);
      script.push(`k=$(cat keys/${n}.${q}; echo x); cdbget "\${k%x}" ${skip} < ref/${n}.cdb > ref/${n}.get${q}.out 2> ref/${n}.get${q}.err; echo $? > ref/${n}.get${q}.rc`);
    }
  }
  script.push("exit 0");
  writeFileSync(join(dir, "run.sh"), script.join("\n") + "\n");
  const batch = run(["bash", join(dir, "run.sh")], { timeoutMs: 60_000 });

  test(`${CASES} record sets (${CASES / 5} malformed): same cdb bytes, exit codes and messages`, () => {
    expect(batch.code).toBe(0);
    let valid = 0;
    for (let n = 0; n < CASES; n++) {
      const theirs = readOutcome(join(dir, "ref"), `${n}.make`);
      const ours = ourMake(join(dir, "in", String(n)), join(dir, "our", `${n}.cdb`), join(dir, "our", `${n}.tmp`));
      expect({ n, code: ours.code }).toEqual({ n, code: theirs.code });
      expectSameMessage(ours.stderr.replace(join(dir, "our") + "/", "ref/"), theirs.stderr, n);
      expect(existsSync(join(dir, "our", `${n}.cdb`))).toBe(theirs.code === 0);
      if (theirs.code === 0) {
        valid++;
        expect(Buffer.compare(readFileSync(join(dir, "our", `${n}.cdb`)), readFileSync(join(dir, "ref", `${n}.cdb`)))).toBe(0);
      }
    }
    expect(valid).toBeGreaterThanOrEqual(200);
  });

  test("cdbdump of every database: same bytes", () => {
    for (let n = 0; n < CASES; n++) {
      if (!existsSync(join(dir, "ref", `${n}.cdb`))) continue;
      const theirs = readOutcome(join(dir, "ref"), `${n}.dump`);
      const ours = ourDump(join(dir, "ref", `${n}.cdb`));
      expect(ours.code).toBe(theirs.code);
      expect(Buffer.compare(ours.stdout, theirs.stdout)).toBe(0);
    }
  });

  test(`cdbget with skip on ${gets.length} queries: same values and exit codes`, () => {
    let found = 0;
    for (const g of gets) {
      const theirs = readOutcome(join(dir, "ref"), `${g.n}.get${g.q}`);
      const ours = ourGet(join(dir, "ref", `${g.n}.cdb`), g.key, g.skip);
      expect({ n: g.n, q: g.q, code: ours.code }).toEqual({ n: g.n, q: g.q, code: theirs.code });
      expect(Buffer.compare(ours.stdout, theirs.stdout)).toBe(0);
      if (theirs.code === 0) found++;
    }
    expect(found).toBeGreaterThan(gets.length / 4);
    expect(gets.length - found).toBeGreaterThan(40);
  });

  test("findNext iterates every value of each key, as cdbget with increasing skip", () => {
    for (let n = 0; n < CASES; n += 7) {
      const records = sets[n];
      if (!records) continue;
      const reader = CdbReader.open(join(dir, "ref", `${n}.cdb`));
      try {
        for (const r of records.slice(0, 30)) {
          const expected = records.filter((x) => Buffer.compare(x.key, r.key) === 0).map((x) => Buffer.from(x.data).toString("hex"));
          const seen: string[] = [];
          for (let v = reader.find(r.key); v !== null; v = reader.findNext()) seen.push(Buffer.from(v).toString("hex"));
          expect(seen).toEqual(expected);
        }
      } finally {
        reader.close();
      }
    }
  });

  test("the compiled applets under their classic names: same bytes, output, exit codes, messages", () => {
    const sample = Array.from({ length: 10 }, (_, i) => i * 23 + 1);
    const lines = ["set -u", `cd ${sh(dir)}`, "mkdir -p bin"];
    for (const n of sample) {
      lines.push(`${sh(applet("cdbmake"))} bin/${n}.cdb bin/${n}.tmp < in/${n} 2> bin/${n}.make.err; echo $? > bin/${n}.make.rc`);
      lines.push(`[ -f ref/${n}.cdb ] && { ${sh(applet("cdbdump"))} < ref/${n}.cdb > bin/${n}.dump.out 2> bin/${n}.dump.err; echo $? > bin/${n}.dump.rc; }`);
      const skip = gets.find((g) => g.n === n && g.q === 0)?.skip ?? 0;
      lines.push(`[ -f keys/${n}.0 ] && { k=$(cat keys/${n}.0; echo x); ${sh(applet("cdbget"))} "\${k%x}" ${skip} < ref/${n}.cdb > bin/${n}.get0.out 2> bin/${n}.get0.err; echo $? > bin/${n}.get0.rc; }`);
    }
    const r = run(["bash", "-c", lines.join("\n") + "\nexit 0"], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    for (const n of sample) {
      const theirs = readOutcome(join(dir, "ref"), `${n}.make`);
      const ours = readOutcome(join(dir, "bin"), `${n}.make`);
      ours.stderr = ours.stderr.replace(`bin/${n}.tmp`, `ref/${n}.tmp`);
      expect({ n, code: ours.code }).toEqual({ n, code: theirs.code });
      expectSameMessage(ours.stderr, theirs.stderr);
      if (theirs.code !== 0) {
        expect(existsSync(join(dir, "bin", `${n}.cdb`))).toBe(false);
        expect(existsSync(join(dir, "bin", `${n}.tmp`))).toBe(false);
        continue;
      }
      expect(Buffer.compare(readFileSync(join(dir, "bin", `${n}.cdb`)), readFileSync(join(dir, "ref", `${n}.cdb`)))).toBe(0);
      for (const what of ["dump", "get0"]) {
        if (!existsSync(join(dir, "ref", `${n}.${what}.rc`))) continue;
        const a = readOutcome(join(dir, "ref"), `${n}.${what}`);
        const b = readOutcome(join(dir, "bin"), `${n}.${what}`);
        expect({ n, what, code: b.code, err: b.stderr }).toEqual({ n, what, code: a.code, err: a.stderr });
        expect(Buffer.compare(b.stdout, a.stdout)).toBe(0);
      }
    }
  });

  test("usage and argument errors: the same text and exit codes as freecdb", () => {
    const cases: string[][] = [["cdbmake"], ["cdbmake", "a"], ["cdbmake", "a", "b", "c"], ["cdbget"], ["cdbget", "a", "x"], ["cdbget", "a", "-1"], ["cdbget", "a", "1", "2"], ["cdbget", ""], ["cdbget", "a", ""], ["cdbget", "a", "+1"], ["cdbdump", "x"]];
    const cdb = join(dir, "ref", "0.cdb");
    for (const c of cases) {
      const theirs = run(["bash", "-c", `${c.map(sh).join(" ")} < /dev/null`]);
      const ours = run(["bash", "-c", `${[applet(c[0]), ...c.slice(1)].map(sh).join(" ")} < /dev/null`]);
      expect({ c, code: ours.code, err: ours.stderr, out: ours.out }).toEqual({ c, code: theirs.code, err: theirs.stderr, out: theirs.out });
    }
    // Standard input closed (`<&-`): freecdb's message and exit code, and cdbmake keeps the old cdb.
    const work = tempDir("cdb-closed");
    for (const [name, args] of [["cdbmake", ["mine.cdb", "mine.tmp"]], ["cdbget", ["a"]], ["cdbdump", []]] as const) {
      const refArgs = name === "cdbmake" ? ["ref.cdb", "ref.tmp"] : args;
      writeFileSync(join(work, "mine.cdb"), readFileSync(cdb));
      writeFileSync(join(work, "ref.cdb"), readFileSync(cdb));
      const theirs = run(["bash", "-c", `cd ${sh(work)} && ${[name, ...refArgs].map(sh).join(" ")} <&-`]);
      const ours = run(["bash", "-c", `cd ${sh(work)} && ${[applet(name), ...args].map(sh).join(" ")} <&-`]);
      expect({ name, code: ours.code, err: ours.stderr, out: ours.out }).toEqual({ name, code: theirs.code, err: theirs.stderr, out: theirs.out });
      expect(ours.stderr).toEndWith("file descriptor not open\n");
      expect(Buffer.compare(readFileSync(join(work, "mine.cdb")), readFileSync(cdb))).toBe(0);
      expect(existsSync(join(work, "mine.tmp"))).toBe(false);
    }
    // cdbget needs a seekable input: a pipe is "protocol error", as freecdb says.
    const theirs = run(["bash", "-c", `cat ${sh(cdb)} | cdbget a`]);
    const ours = run(["bash", "-c", `cat ${sh(cdb)} | ${sh(applet("cdbget"))} a`]);
    expect({ code: ours.code, err: ours.stderr }).toEqual({ code: theirs.code, err: theirs.stderr });
    expect(ours.code).toBe(111);
    void int;
  });
});

/**
 * Corrupt and truncated databases: a clear error (or the same answer as Debian's cdbget),
 * never a hang or a crash. Debian's cdbget runs on every damaged file in one batch script.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool, run, tempDir } from "../helpers.ts";
import { cdbGet } from "../../mod/cdb/get.ts";
import { CdbFormatError } from "../../mod/cdb/errors.ts";
import { CdbReader } from "../../mod/cdb/reader.ts";
import { CdbWriter } from "../../mod/cdb/writer.ts";
import { cdbHash } from "../../mod/cdb/hash.ts";
import { PoppinError } from "../../mod/base/errors.ts";
import { int, prng } from "./corpus.ts";

const enc = new TextEncoder();
const KEYS = ["alpha", "k23", "missing", "dup"];

function ourGet(path: string, key: string): { code: number; out: string; err: string } {
  const fd = openSync(path, "r");
  const parts: Uint8Array[] = [];
  try {
    const found = cdbGet(CdbReader.fromFd(fd), enc.encode(key), 0n, (b) => parts.push(b.slice()));
    return { code: found ? 0 : 100, out: Buffer.concat(parts).toString("latin1"), err: "" };
  } catch (err) {
    if (!(err instanceof PoppinError)) throw err;
    return { code: err.exitCode, out: Buffer.concat(parts).toString("latin1"), err: `cdbget: fatal: unable to read input: ${err.message}\n` };
  } finally {
    closeSync(fd);
  }
}

describe("damaged cdb files", () => {
  requireTool("cdbget");
  const dir = tempDir("cdb-corrupt");
  mkdirSync(join(dir, "bad"));
  const good = join(dir, "good.cdb");
  const writer = CdbWriter.create(join(dir, "good.tmp"));
  writer.add(enc.encode("alpha"), enc.encode("first value"));
  for (let i = 0; i < 60; i++) writer.add(enc.encode(`k${i}`), enc.encode(`value ${i} `.repeat(i % 5)));
  writer.add(enc.encode("dup"), enc.encode("one"));
  writer.add(enc.encode("dup"), enc.encode("two"));
  writer.commit(good);
  const bytes = new Uint8Array(readFileSync(good));
  const rng = prng(7);
  const files: string[] = [];
  const offsets = [0, 1, 7, 8, 2047, 2048, 2049, 2060, bytes.length - 1, bytes.length - 8, bytes.length - 9];
  for (let i = 0; i < 50; i++) offsets.push(int(rng, 0, bytes.length - 1));
  for (const [i, cut] of offsets.entries()) {
    const name = join(dir, "bad", `cut${i}`);
    writeFileSync(name, bytes.subarray(0, cut));
    files.push(name);
  }
  for (let i = 0; i < 80; i++) {
    const copy = bytes.slice();
    for (let k = int(rng, 1, 4); k > 0; k--) {
      // Aim at the header, the tables (end of file) and the records alike.
      const where = pick3(rng, int(rng, 0, 2047), int(rng, bytes.length - 1200, bytes.length - 1), int(rng, 2048, bytes.length - 1));
      copy[where] = rng() < 0.5 ? int(rng, 0, 255) : 0xff;
    }
    const name = join(dir, "bad", `flip${i}`);
    writeFileSync(name, copy);
    files.push(name);
  }
  const script = files.flatMap((f) => KEYS.map((k) => `cdbget ${k} < ${f} > ${f}.${k}.out 2> ${f}.${k}.err; echo $? > ${f}.${k}.rc`));
  writeFileSync(join(dir, "run.sh"), script.join("\n") + "\nexit 0\n");
  const batch = run(["bash", join(dir, "run.sh")], { timeoutMs: 60_000 });

  test(`${files.length} truncated or damaged files: the same answer or error as Debian's cdbget`, () => {
    expect(batch.code).toBe(0);
    let errors = 0;
    for (const f of files) {
      for (const k of KEYS) {
        const theirs = {
          code: Number(readFileSync(`${f}.${k}.rc`, "latin1")),
          out: readFileSync(`${f}.${k}.out`, "latin1"),
          err: readFileSync(`${f}.${k}.err`, "latin1"),
        };
        const ours = ourGet(f, k);
        expect({ f, k, ...ours }).toEqual({ f, k, ...theirs });
        if (ours.code === 111) errors++;
      }
    }
    expect(errors).toBeGreaterThan(100); // the corpus does exercise the error paths
  });

  test("a table whose every slot is taken by other hashes ends after one pass (no hang)", () => {
    const copy = bytes.slice();
    const view = new DataView(copy.buffer);
    const h = cdbHash(enc.encode("missing"));
    const tablePos = view.getUint32((h & 255) * 8, true);
    const slots = view.getUint32((h & 255) * 8 + 4, true);
    for (let s = 0; s < slots; s++) {
      view.setUint32(tablePos + 8 * s, (h ^ 1) >>> 0, true);
      view.setUint32(tablePos + 8 * s + 4, 2048, true);
    }
    const path = join(dir, "full.cdb");
    writeFileSync(path, copy);
    expect(ourGet(path, "missing").code).toBe(100);
    const theirs = run(["bash", "-c", `cdbget missing < ${path}`], { timeoutMs: 10_000 });
    expect(theirs.code).toBe(100);
  });

  test("a value length far beyond the file is an error before anything is allocated (fuzz campaign finding)", () => {
    const copy = bytes.slice();
    const at = Buffer.from(copy).indexOf("alphafirst value");
    expect(at).toBeGreaterThan(8);
    new DataView(copy.buffer).setUint32(at - 4, 0x3f000005, true); // the record's data length: 1 GiB
    const path = join(dir, "huge-value.cdb");
    writeFileSync(path, copy);
    const reader = CdbReader.open(path);
    // Record every byte array made meanwhile: none may be sized by the corrupt length.
    const RealUint8Array = globalThis.Uint8Array;
    let biggest = 0;
    globalThis.Uint8Array = class extends RealUint8Array {
      constructor(...args: unknown[]) {
        if (typeof args[0] === "number") biggest = Math.max(biggest, args[0]);
        super(...(args as [number]));
      }
    } as Uint8ArrayConstructor;
    try {
      expect(() => reader.find(enc.encode("alpha"))).toThrow(CdbFormatError);
    } finally {
      globalThis.Uint8Array = RealUint8Array;
    }
    expect(biggest).toBeLessThan(copy.length + 65536);
    reader.close();
    const theirs = run(["bash", "-c", `cdbget alpha < ${path}`], { timeoutMs: 10_000 });
    const ours = ourGet(path, "alpha");
    expect(ours.code).toBe(theirs.code);
    expect(ours.err).toBe(theirs.stderr);
  });

  test("a slot count far beyond the file size is an error, not 2^32 probes", () => {
    const copy = bytes.slice();
    const view = new DataView(copy.buffer);
    const h = cdbHash(enc.encode("alpha"));
    // Table at 0 with 2^31 slots: every probe lands inside the file, wrapping at 2^32.
    view.setUint32((h & 255) * 8, 0, true);
    view.setUint32((h & 255) * 8 + 4, 0x80000000, true);
    for (let p = 0; p + 8 <= copy.length; p += 8) {
      view.setUint32(p, (h ^ 1) >>> 0, true);
      view.setUint32(p + 4, 1, true);
    }
    const path = join(dir, "wrap.cdb");
    writeFileSync(path, copy);
    const reader = CdbReader.open(path);
    const started = performance.now();
    expect(() => reader.find(enc.encode("alpha"))).toThrow(CdbFormatError);
    expect(performance.now() - started).toBeLessThan(5_000);
    reader.close();
  });
});

function pick3<T>(rng: () => number, a: T, b: T, c: T): T {
  const r = rng();
  return r < 0.34 ? a : r < 0.67 ? b : c;
}

import { describe, expect, test } from "bun:test";
import { existsSync, openSync, readFileSync, readdirSync, writeFileSync, closeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { ByteSource } from "../../mod/cdb/byte_source.ts";
import { cdbHash, CDB_HEADER_SIZE } from "../../mod/cdb/hash.ts";
import { CdbInputError, readCdbmakeInput } from "../../mod/cdb/make_input.ts";
import { CdbReader } from "../../mod/cdb/reader.ts";
import { CdbTooLargeError, CdbWriter } from "../../mod/cdb/writer.ts";
import { CdbIoError } from "../../mod/cdb/errors.ts";

const enc = new TextEncoder();
const text = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));

describe("cdb hash", () => {
  test("djb's function: 5381 for the empty key, 32-bit wrap-around", () => {
    expect(cdbHash(new Uint8Array())).toBe(5381);
    expect(cdbHash(enc.encode("a"))).toBe(((5381 * 33) ^ 0x61) >>> 0);
    // Long keys wrap at 32 bits and stay unsigned.
    const h = cdbHash(new Uint8Array(1000).fill(0xff));
    expect(h).toBeGreaterThanOrEqual(0);
    expect(h).toBeLessThan(2 ** 32);
  });
});

describe("cdb writer and reader", () => {
  test("an empty database is just the header pointing at empty tables", () => {
    const dir = tempDir("cdb-unit");
    const w = CdbWriter.create(join(dir, "t.tmp"));
    w.commit(join(dir, "t.cdb"));
    const bytes = new Uint8Array(readFileSync(join(dir, "t.cdb")));
    expect(bytes.length).toBe(CDB_HEADER_SIZE);
    const view = new DataView(bytes.buffer);
    for (let t = 0; t < 256; t++) {
      expect(view.getUint32(8 * t, true)).toBe(2048);
      expect(view.getUint32(8 * t + 4, true)).toBe(0);
    }
    const r = CdbReader.open(join(dir, "t.cdb"));
    expect(r.find(enc.encode("x"))).toBeNull();
    r.close();
  });

  test("find and findNext return every value of a key in insertion order", () => {
    const dir = tempDir("cdb-unit");
    const w = CdbWriter.create(join(dir, "t.tmp"));
    for (let i = 0; i < 5000; i++) w.add(enc.encode(`key${i % 1000}`), enc.encode(`v${i}`));
    w.add(new Uint8Array(), enc.encode("empty key"));
    w.commit(join(dir, "t.cdb"));
    expect(existsSync(join(dir, "t.tmp"))).toBe(false);
    const r = CdbReader.open(join(dir, "t.cdb"));
    for (const k of [0, 1, 999, 517]) {
      const values: string[] = [];
      for (let v = r.find(enc.encode(`key${k}`)); v !== null; v = r.findNext()) values.push(text(v)!);
      expect(values).toEqual([0, 1, 2, 3, 4].map((j) => `v${k + 1000 * j}`));
    }
    expect(text(r.find(new Uint8Array()))).toBe("empty key");
    expect(r.find(enc.encode("key1000"))).toBeNull();
    expect(r.findNext()).toBeNull();
    r.close();
  });

  test("commit replaces the target atomically; abort leaves it untouched and removes the temporary file", () => {
    const dir = tempDir("cdb-unit");
    const target = join(dir, "t.cdb");
    const w1 = CdbWriter.create(join(dir, "t.tmp"));
    w1.add(enc.encode("k"), enc.encode("old"));
    w1.commit(target);
    const before = readFileSync(target);
    const w2 = CdbWriter.create(join(dir, "t.tmp"));
    w2.add(enc.encode("k"), enc.encode("new"));
    w2.abort();
    expect(Buffer.compare(readFileSync(target), before)).toBe(0);
    expect(readdirSync(dir)).toEqual(["t.cdb"]);
    const w3 = CdbWriter.create(join(dir, "t.tmp"));
    w3.add(enc.encode("k"), enc.encode("new"));
    w3.commit(target);
    const r = CdbReader.open(target);
    expect(text(r.find(enc.encode("k")))).toBe("new");
    r.close();
  });

  test("the 4 GiB limit is checked before anything is written", () => {
    const dir = tempDir("cdb-unit");
    const w = CdbWriter.create(join(dir, "t.tmp"));
    w.add(enc.encode("k"), enc.encode("v"));
    expect(() => w.beginRecord(10, 0xffffffff - 2048)).toThrow(CdbTooLargeError);
    expect(() => w.beginRecord(0x80000000, 0x80000000)).toThrow("limited to 4 GiB");
    w.abort();
    expect(existsSync(join(dir, "t.tmp"))).toBe(false);
  });

  test("an unwritable directory is a temporary error naming the file", () => {
    expect(() => CdbWriter.create("/nonexistent-dir/t.tmp")).toThrow("unable to create /nonexistent-dir/t.tmp: file does not exist");
  });

  test("a missing file is a CdbIoError with code ENOENT", () => {
    let caught: unknown;
    try { CdbReader.open("/nonexistent-dir/x.cdb"); } catch (err) { caught = err; }
    expect(caught).toBeInstanceOf(CdbIoError);
    expect((caught as CdbIoError).code).toBe("ENOENT");
    expect((caught as CdbIoError).exitCode).toBe(111);
  });
});

describe("cdbmake input", () => {
  function make(input: string): { error?: string; records?: number } {
    const dir = tempDir("cdb-input");
    writeFileSync(join(dir, "in"), input);
    const fd = openSync(join(dir, "in"), "r");
    const w = CdbWriter.create(join(dir, "t.tmp"));
    try {
      const records = readCdbmakeInput(new ByteSource(fd), w);
      w.commit(join(dir, "t.cdb"));
      return { records };
    } catch (err) {
      w.abort();
      if (!(err instanceof CdbInputError) && !(err as Error).message.includes("out of memory")) throw err;
      return { error: (err as Error).message };
    } finally {
      closeSync(fd);
    }
  }

  test("records, binary bytes and the final empty line", () => {
    expect(make("+1,1:a->b\n+3,0:a\nb->\n\n")).toEqual({ records: 2 });
    expect(make("\n")).toEqual({ records: 0 });
    expect(make("+01,002:a->bc\n\nignored after the end")).toEqual({ records: 1 });
  });

  test("freecdb's messages, with the entry number", () => {
    expect(make("")).toEqual({ error: "unable to read input: entry 1: unexpected end if input" });
    expect(make("+1,1:a->b\n")).toEqual({ error: "unable to read input: entry 2: unexpected end if input" });
    expect(make("+1,1:a->b\nx")).toEqual({ error: "unable to read input: entry 2: entry must start with +" });
    expect(make("+1;1:a->b\n\n")).toEqual({ error: "unable to read input: entry 1: bad keylen format" });
    expect(make("+1,1;a->b\n\n")).toEqual({ error: "unable to read input: entry 1: bad datalen format" });
    expect(make("+1,1:a=>b\n\n")).toEqual({ error: "unable to read input: entry 1: key must be followed by ->" });
    expect(make("+1,1:a->bc\n\n")).toEqual({ error: "unable to read input: entry 1: newline expected" });
    expect(make("+4294967210,1:a->b\n\n").error).toStartWith("unable to create ");
    expect(make("+4294967210,1:a->b\n\n").error).toContain(": out of memory (entry 1:");
    // Within freecdb's length limit but past 4 GiB: a short input is still "unexpected end".
    expect(make("+4294967209,0:abc")).toEqual({ error: "unable to read input: entry 1: unexpected end if input" });
    expect(make("+4294967209,0:abc->\n\n")).toEqual({ error: "unable to read input: entry 1: unexpected end if input" });
  });
});

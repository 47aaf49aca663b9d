/**
 * Rules text and the cdb reader. A rule line either parses, is skipped, or fails with
 * tcprules' RulesParseError (never another exception); the value it stores is tcprules'
 * encoding of what was written. The cdb reader, on random, flipped or truncated files,
 * returns values or throws CdbFormatError ("protocol error"), never loops or reads past
 * the end; on files our writer made, it finds every value in insertion order.
 */
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CdbReader } from "../../../mod/cdb/reader.ts";
import { CdbWriter } from "../../../mod/cdb/writer.ts";
import { CdbFormatError } from "../../../mod/cdb/errors.ts";
import { AddressError, MAX_CIDR_KEYS, ruleKeys } from "../../../mod/rules/address.ts";
import { parseRuleLine, RulesParseError } from "../../../mod/rules/parse.ts";
import { ruleInstructions } from "../../../mod/rules/data.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

const rulesByte = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 3, arbitrary: fc.constantFrom(...bytesOf(":,=\"'/.-@#\n\t allowdeny0123456789abcdef")) },
);
const rulesLine = fc.array(rulesByte, { maxLength: 80 }).map((a) => Uint8Array.from(a));

/** Lines made of rule syntax: address, allow/deny, instructions with any quote character. */
const wellFormedRule = fc.record({
  address: fc.oneof(
    fc.constantFrom("", "127.", "10.0.0.1", "1.2.3.4-7", "=host.example", "=.example", "joe@1.2.3.4", "10.0.0.0/12", "2001:db8:", "::1"),
    fc.stringMatching(/^[0-9.]{0,15}$/),
  ),
  deny: fc.boolean(),
  env: fc.array(fc.record({
    name: fc.stringMatching(/^[A-Z_]{1,8}$/),
    quote: fc.constantFrom("\"", "'", "/", "x"),
    value: fc.string({ maxLength: 12 }),
  }), { maxLength: 4 }),
}).filter((r) => r.env.every((e) => !e.value.includes(e.quote) && !e.value.includes("\n")));

export const rulesParse: FuzzTarget = {
  name: "rules-line",
  module: "mod/rules/parse.ts, address.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(rulesLine, (line) => {
      let rule;
      try {
        rule = parseRuleLine(line, 1);
      } catch (e) {
        if (e instanceof RulesParseError) return true;
        throw e;
      }
      if (rule === null) return true;
      // What is stored is a run of NUL-terminated instructions.
      if (rule.data.length > 0 && rule.data[rule.data.length - 1] !== 0) fail("value not NUL-terminated");
      for (const i of ruleInstructions(rule.data)) if (i.kind === "other") fail("stored an unknown instruction");
      try {
        const keys = ruleKeys(rule.address);
        if (keys.length === 0 || keys.length > MAX_CIDR_KEYS) fail(`${keys.length} keys`);
      } catch (e) {
        if (!(e instanceof AddressError)) throw e;
      }
      return true;
    }), { numRuns, seed });
    fc.assert(fc.property(wellFormedRule, (r) => {
      const text = `${r.address}:${r.deny ? "deny" : "allow"}${r.env.map((e) => `,${e.name}=${e.quote}${e.value}${e.quote}`).join("")}\n`;
      const rule = parseRuleLine(new Uint8Array(Buffer.from(text, "utf8")), 7) ?? fail(`skipped ${JSON.stringify(text)}`);
      if (Buffer.from(rule.address).toString("utf8") !== r.address) fail("address changed");
      const want = (r.deny ? "D\0" : "") + r.env.map((e) => `+${e.name}=${e.value}\0`).join("");
      if (Buffer.from(rule.data).toString("utf8") !== want) fail(`value ${JSON.stringify(Buffer.from(rule.data).toString())} != ${JSON.stringify(want)}`);
      return true;
    }), { numRuns: Math.ceil(numRuns / 3), seed });
  },
};

const key = fc.uint8Array({ maxLength: 12 });
const records = fc.array(fc.tuple(fc.oneof(key, fc.constantFrom(new Uint8Array([1]), new Uint8Array([2]))), fc.uint8Array({ maxLength: 40 })), { maxLength: 40 });

function withDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "poppin-fuzz-cdb-"));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function buildCdb(dir: string, recs: [Uint8Array, Uint8Array][]): Uint8Array {
  const path = join(dir, "db.cdb");
  const writer = CdbWriter.create(join(dir, "db.tmp"));
  for (const [k, v] of recs) writer.add(k, v);
  writer.commit(path);
  return new Uint8Array(readFileSync(path));
}

/** All values of `k` through find/findNext; a corrupt file may throw CdbFormatError, nothing else; bounded. */
function allValues(reader: CdbReader, k: Uint8Array, limit: number): string[] | "corrupt" {
  const out: string[] = [];
  try {
    for (let v = reader.find(k); v !== null; v = reader.findNext()) {
      out.push(latin1(v));
      if (out.length > limit) fail(`findNext returned more than ${limit} values`);
    }
  } catch (e) {
    if (e instanceof CdbFormatError) return "corrupt";
    throw e;
  }
  return out;
}

export const cdbReader: FuzzTarget = {
  name: "cdb-reader",
  module: "mod/cdb/reader.ts (and writer.ts)",
  ciRuns: 300,
  check(numRuns, seed) {
    withDir((dir) => {
      const damaged = join(dir, "damaged.cdb");
      fc.assert(fc.property(records, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat()), fc.uint8Array({ maxLength: 3000 }), fc.boolean(),
        (recs, flips, cut, noise, useNoise) => {
          const good = buildCdb(dir, recs);
          // Round trip: every key's values, in insertion order.
          const reader = CdbReader.open(join(dir, "db.cdb"));
          try {
            const seen = new Set<string>();
            for (const [k] of recs) {
              const name = latin1(k);
              if (seen.has(name)) continue;
              seen.add(name);
              const want = recs.filter(([k2]) => latin1(k2) === name).map(([, v]) => latin1(v));
              const got = allValues(reader, k, recs.length);
              if (JSON.stringify(got) !== JSON.stringify(want)) fail(`values of ${JSON.stringify(name)}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
            }
            if (!seen.has("\x7f\x7f\x7f") && allValues(reader, bytesOf("\x7f\x7f\x7f"), 0).length !== 0) fail("found an absent key");
          } finally {
            reader.close();
          }
          // Damage: noise, or the good file with flipped bytes, cut short.
          let bytes = useNoise ? noise : good.slice();
          if (!useNoise) for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
          if (cut !== null && bytes.length > 0) bytes = bytes.subarray(0, cut % (bytes.length + 1));
          writeFileSync(damaged, bytes);
          const bad = CdbReader.open(damaged);
          try {
            for (const [k] of recs.slice(0, 8)) allValues(bad, k, bytes.length / 8 + 2);
            allValues(bad, new Uint8Array(0), bytes.length / 8 + 2);
          } finally {
            bad.close();
          }
          return true;
        }), { numRuns, seed });
    });
  },
};

/**
 * Property test of the scanner's hidden header fields (mod/mbox/hidden.ts) on generated
 * spools: hidden fields in any case, folded, between visible ones, in LF and CRLF messages,
 * and headers with more separate runs than the bound. For every message, the bytes served
 * (the message minus its hidden ranges) hold no hidden field, keep every visible header line
 * and the body, and their CRLF size is the size LIST gives; UIDLs are those of the same
 * spool without the hidden fields.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { int, pick, prng, type Rng } from "../cdb/corpus.ts";
import { crlfSizeOf } from "../../mod/maildir/crlf.ts";
import { MAX_HIDDEN_RANGES, visibleRanges } from "../../mod/mbox/hidden.ts";
import { scanMbox } from "../../mod/mbox/scan.ts";

const HIDDEN = ["Status: RO", "status: O", "X-Status: AF", "X-UID: 12", "x-keywords: a", "X-IMAP: 1 2", "X-IMAPbase: 3 4", "X-Keywords: $a\n\t$b"];
const VISIBLE = ["Subject: s", "From: a@b", "X-Other: 1", "To: x@y,\n z@w", "X-UIDL-ish: q", "Received: from x\n\tby y"];

function scan(text: Buffer) {
  const path = join(tempDir("mbox-hidden"), "spool");
  writeFileSync(path, text);
  const fd = openSync(path, "r");
  try {
    return { messages: scanMbox(fd, fstatSync(fd).size).messages, bytes: readFileSync(path) };
  } finally {
    closeSync(fd);
  }
}

/** One message: [with hidden fields, without], LF or CRLF lines. */
function message(rng: Rng, i: number): [string, string] {
  const eol = rng() < 0.25 ? "\r\n" : "\n";
  const withFields: string[] = [];
  const without: string[] = [];
  const runs = rng() < 0.1 ? MAX_HIDDEN_RANGES * 2 : int(rng, 0, 8);
  for (let n = 0; n < runs; n++) {
    const v = pick(rng, VISIBLE);
    withFields.push(v);
    without.push(v);
    if (rng() < 0.8) withFields.push(pick(rng, HIDDEN));
  }
  const body = `body ${i}${eol}${"line\n".repeat(int(rng, 0, 3)).replace(/\n/g, eol)}`;
  const head = (lines: string[]) => lines.map((l) => l.replace(/\n/g, eol) + eol).join("");
  return [`${head(withFields)}${eol}${body}`, `${head(without)}${eol}${body}`];
}

describe("hidden header fields", () => {
  test("served bytes, LIST sizes and UIDLs on 60 generated spools", () => {
    const rng = prng(1606);
    let overBound = 0;
    for (let round = 0; round < 60; round++) {
      const pairs = Array.from({ length: int(rng, 1, 6) }, (_, i) => message(rng, i));
      const spool = (k: 0 | 1) => Buffer.from(pairs.map((p, i) => `From s${i} Mon Jan  1 00:00:00 2024\n${p[k]}\n`).join(""), "latin1");
      const a = scan(spool(0));
      const b = scan(spool(1));
      expect(a.messages.length).toBe(pairs.length);
      expect(a.messages.map((m) => m.uidl)).toEqual(b.messages.map((m) => m.uidl));
      a.messages.forEach((m, i) => {
        const served = Buffer.concat(visibleRanges(m.start, m.end, m.hiddenFields).map(([x, y]) => a.bytes.subarray(x, y)));
        expect(crlfSizeOf(served)).toBe(m.crlfSize);
        const ranges = m.hiddenFields ?? [];
        expect(ranges.length).toBeLessThanOrEqual(MAX_HIDDEN_RANGES);
        if (ranges.length < MAX_HIDDEN_RANGES) {
          // Under the bound: exactly the message without its hidden fields.
          const expected = b.bytes.subarray(b.messages[i]!.start, b.messages[i]!.end);
          expect(served.toString("latin1")).toBe(expected.toString("latin1"));
          expect(m.crlfSize).toBe(b.messages[i]!.crlfSize);
        } else {
          overBound++;
          // Past the bound the rest is shown: still whole lines, sizes still true.
          expect(served.toString("latin1")).toEndWith(expected(b, i));
        }
      });
    }
    expect(overBound).toBeGreaterThan(0);
  });
});

function expected(b: ReturnType<typeof scan>, i: number): string {
  const m = b.messages[i]!;
  const text = b.bytes.subarray(m.start, m.end).toString("latin1");
  return text.slice(text.search(/\r?\n\r?\n/));
}

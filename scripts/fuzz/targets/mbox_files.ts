/**
 * The files an mbox session reads back from disk: the rewrite journal's header
 * (mod/mbox/journal.ts), the scan cache (mod/mbox/scan_cache.ts) and the dot-lock's text
 * (mod/mbox/dot_lock.ts). On any bytes each parser answers "not mine" or a value whose
 * fields are in range (never throws); well-formed files round-trip exactly.
 */
import fc from "fast-check";
import { journalHeaderBytes, parseJournalHeader, type JournalHeader } from "../../../mod/mbox/journal.ts";
import { parseScanCache } from "../../../mod/mbox/scan_cache.ts";
import { lockText, parseLockText } from "../../../mod/mbox/dot_lock.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

const safe = fc.integer({ min: 0, max: 2 ** 40 });

/** Headers as written, and mutations of them (a flipped octet, a cut, junk after the magic). */
const headerBytes = fc.oneof(
  fc.record({ state: fc.constantFrom("writing", "ready", "done" as const), p: safe, n: safe, e: safe, dev: safe, ino: safe }).map((h) => new Uint8Array(journalHeaderBytes(h as Omit<JournalHeader, "dataOffset">))),
  fc.tuple(fc.record({ state: fc.constantFrom("writing", "ready", "done" as const), p: safe, n: safe, e: safe, dev: safe, ino: safe }), fc.nat(127), fc.integer({ min: 0, max: 255 }))
    .map(([h, at, octet]) => { const b = new Uint8Array(journalHeaderBytes(h as Omit<JournalHeader, "dataOffset">)); b[at] = octet; return b; }),
  fc.tuple(fc.constantFrom("PMJ1 ", "PMJ2 ", "PMJ1 ready   ", "PMJ2 done    "), fc.uint8Array({ maxLength: 140 })).map(([head, rest]) => new Uint8Array([...bytesOf(head), ...rest])),
  fc.uint8Array({ maxLength: 140 }),
);

export const journalHeader: FuzzTarget = {
  name: "mbox-journal-header",
  module: "mod/mbox/journal.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(headerBytes, (bytes) => {
      const h = parseJournalHeader(bytes);
      if (h === undefined) return true;
      for (const k of ["p", "n", "e", "ino"] as const) if (!Number.isSafeInteger(h[k]) || h[k] < 0) fail(`${k} = ${h[k]}`);
      if (!Number.isSafeInteger(h.p + h.n)) fail("p + n beyond safe integers");
      if (h.dataOffset !== 64 && h.dataOffset !== 128) fail(`data offset ${h.dataOffset}`);
      if (bytes.length < h.dataOffset) fail("header longer than the bytes");
      // A PMJ2 header is exactly what journalHeaderBytes writes for those values.
      if (h.dataOffset === 128 && latin1(journalHeaderBytes(h)) !== latin1(bytes.subarray(0, 128))) fail(`not canonical: ${JSON.stringify(latin1(bytes.subarray(0, 128)))}`);
      return true;
    }), { numRuns, seed });
  },
};

const message = fc.record({
  fromOffset: fc.nat(1000), len: fc.nat(1000), gap: fc.nat(3),
  uidl: fc.string({ minLength: 1, maxLength: 20 }), fromLine: fc.string({ maxLength: 30 }),
  status: fc.constantFrom("", "RO", "O"), xStatus: fc.constantFrom("", "A", "F"), eol: fc.constantFrom("\n", "\r\n"),
});

/** Cache texts: well-formed ones built in order, and mutations (cut, wrong field kinds, junk). */
const cacheText = fc.oneof(
  fc.array(message, { maxLength: 6 }).map((ms) => {
    let at = 0;
    const stored = ms.map((m) => {
      const fromOffset = at + m.fromOffset;
      const start = fromOffset + m.fromLine.length + 1;
      const end = start + m.len;
      at = end + m.gap;
      return { fromOffset, start, headerEnd: start, end, next: at, crlfSize: m.len, uidl: m.uidl, derivedUidl: m.uidl, fromLine: m.fromLine, status: m.status, xStatus: m.xStatus, eol: m.eol };
    });
    return `poppin-mbox-cache 1 2049 1234 ${at} 1733212345123.456 1733212345123.456\n${JSON.stringify(stored)}`;
  }),
  fc.tuple(fc.string({ maxLength: 60 }), fc.json()).map(([head, body]) => `poppin-mbox-cache 1 ${head}\n${body}`),
  fc.tuple(fc.json(), fc.nat(10)).map(([body, cut]) => `poppin-mbox-cache 1 1 2 3 4 5\n${body}`.slice(0, -cut || undefined)),
  fc.string({ maxLength: 200 }),
);

export const scanCache: FuzzTarget = {
  name: "mbox-scan-cache",
  module: "mod/mbox/scan_cache.ts, dot_lock.ts",
  ciRuns: 2000,
  check(numRuns, seed) {
    fc.assert(fc.property(cacheText, (text) => {
      const c = parseScanCache(text);
      if (c === undefined) return true;
      let last = 0;
      for (const m of c.messages) {
        if (!(m.fromOffset >= last && m.fromOffset <= m.start && m.start <= m.headerEnd && m.headerEnd <= m.end && m.end <= m.next)) fail(`offsets out of order: ${JSON.stringify(m)}`);
        if (typeof m.uidl !== "string" || m.uidl === "" || !(m.fromLine instanceof Uint8Array)) fail("fields");
        last = m.next;
      }
      return true;
    }), { numRuns, seed });
    // Lock text: our own round-trips; anything parses to a pid (0 when none) without throwing.
    fc.assert(fc.property(fc.nat(2 ** 31 - 1), fc.stringMatching(/^[a-z0-9.-]{1,40}$/), fc.string({ maxLength: 80 }), (pid, host, junk) => {
      const own = parseLockText(lockText(pid, host));
      if (own.pid !== pid || !own.poppin || own.host !== host) fail(`round trip ${pid} ${host}`);
      const any = parseLockText(junk);
      if (!Number.isSafeInteger(any.pid) || any.pid < 0) fail(`pid ${any.pid}`);
      return true;
    }), { numRuns, seed });
  },
};

/**
 * The relay of a user-run process's log lines (mod/cli/child_log.ts). On any bytes, cut into
 * any chunks: every line written is one line (no control character but the final LF), at most
 * CHILD_LOG_LINE_MAX octets of the child's text, starts with one of the child's names, and is
 * never one that the shipped fail2ban filter would take for popup's failure line.
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CHILD_LOG_LINE_MAX, ChildLogRelay } from "../../../mod/cli/child_log.ts";
import type { FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

/** The filter's failregex as a JS RegExp (<ADDR> as any address-like token). */
function filterRegex(): RegExp {
  const conf = readFileSync(join(import.meta.dir, "..", "..", "fail2ban", "filter.d", "poppin.conf"), "utf8");
  const line = conf.split("\n").find((l) => l.startsWith("failregex = "))!;
  return new RegExp(line.slice("failregex = ".length).replace("<ADDR>", "[0-9A-Fa-f.:]+"));
}

const FORGED = "poppin popup: warning: authorization failed rip=203.0.113.9 user=v";
const textArb = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.constantFrom(`${FORGED}\n`, `x y: ${FORGED}\n`, `h p[1]: ${FORGED}\n`, `poppin pop3d: ${FORGED}\n`, `a\r${FORGED}\n`, "\u2028", "x".repeat(5000)),
);

export const childLog: FuzzTarget = {
  name: "child-log",
  module: "mod/cli/child_log.ts",
  ciRuns: 1000,
  check(numRuns, seed) {
    const popupLine = filterRegex();
    const names = ["poppin checkpassword", "poppin pop3d"];
    fc.assert(fc.property(fc.array(textArb, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }), (texts, cuts) => {
      const bytes = Buffer.from(texts.join(""), "utf8");
      const lines: string[] = [];
      const relay = new ChildLogRelay(names, (l) => lines.push(l));
      for (let at = 0, i = 0; at < bytes.length; i++) {
        const n = cuts[i % cuts.length]!;
        relay.feed(bytes.subarray(at, at + n));
        at += n;
      }
      relay.end();
      for (const line of lines) {
        if (!line.endsWith("\n")) fail(`no final newline: ${JSON.stringify(line)}`);
        const body = line.slice(0, -1);
        if (/[\x00-\x1f\x7f\u0085\u2028\u2029]/.test(body)) fail(`control character left in ${JSON.stringify(line)}`);
        if (!names.some((n) => body.startsWith(`${n}: `))) fail(`line without the child's name: ${JSON.stringify(line)}`);
        if (popupLine.test(body)) fail(`the filter takes it for popup's: ${JSON.stringify(line)}`);
        // At most the cut size of the child's text, escaped (each octet at most 3 characters, plus a name).
        if (Buffer.byteLength(body) > 3 * CHILD_LOG_LINE_MAX + 64) fail(`line of ${Buffer.byteLength(body)} octets`);
      }
      return true;
    }), { numRuns, seed });
  },
};

/**
 * What the POP3 session shows of a mailbox's names: the UIDL mapping (mod/pop3/uidl.ts) and
 * the log escaping (mod/cli/log_value.ts). On any names, every UIDL is 1-70 octets in
 * 0x21..0x7E, they are unique, the same names give the same UIDLs whatever else is in the
 * mailbox, and a valid name that is not a duplicate is kept as it is. On any text, a log
 * line is one line with no control character, a value is one token, and an escaped value
 * decodes back to its octets.
 */
import fc from "fast-check";
import { logLine, logValue } from "../../../mod/cli/log_value.ts";
import { isValidUidl, rfcUidls } from "../../../mod/pop3/uidl.ts";
import type { FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

/** Names like a hostile Maildir's: ordinary unique parts, controls, spaces, 8-bit, long, repeated. */
const nameArb = fc.oneof(
  fc.constantFrom("1700000000.M1P1.host", "1700000000.M1P1.host", "a", "a b", "x\r\n+OK 1 fake", "caf\u00e9", "l".repeat(71), "l".repeat(70), "", " "),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "binary", maxLength: 90 }),
);

export const uidlMapping: FuzzTarget = {
  name: "uidl-mapping",
  module: "mod/pop3/uidl.ts",
  ciRuns: 2000,
  check(numRuns, seed) {
    fc.assert(fc.property(fc.array(nameArb, { maxLength: 12 }), fc.array(nameArb, { maxLength: 4 }), (names, others) => {
      const proposals = names.map((n, i) => ({ wanted: n, keys: [n, `cur/${n}:2,${i}`] }));
      const uidls = rfcUidls(proposals);
      if (uidls.length !== names.length) fail("one UIDL per message");
      for (const u of uidls) if (!isValidUidl(u)) fail(`not RFC 1939: ${JSON.stringify(u)}`);
      if (new Set(uidls).size !== uidls.length) fail(`duplicate UIDLs for ${JSON.stringify(names)}`);
      names.forEach((n, i) => {
        if (isValidUidl(n) && names.indexOf(n) === i && uidls[i] !== n) fail(`ordinary name ${JSON.stringify(n)} changed to ${uidls[i]}`);
      });
      // Stable: the same listing gives the same UIDLs; an invalid name's stand-in does not depend on the other messages.
      if (JSON.stringify(rfcUidls(proposals)) !== JSON.stringify(uidls)) fail("not deterministic");
      const more = rfcUidls([...proposals, ...others.map((n) => ({ wanted: n, keys: [`other/${n}`] }))]);
      names.forEach((n, i) => {
        const clash = others.includes(n) || [...others, ...names].some((o) => o === uidls[i]);
        if (!clash && !isValidUidl(n) && names.indexOf(n) === i && more[i] !== uidls[i]) fail(`stand-in for ${JSON.stringify(n)} moved when other mail arrived`);
      });
      return true;
    }), { numRuns, seed });
  },
};

function decodeValue(escaped: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === "%") {
      out.push(parseInt(escaped.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(escaped.charCodeAt(i));
  }
  return Buffer.from(out);
}

export const logEscaping: FuzzTarget = {
  name: "log-escaping",
  module: "mod/cli/log_value.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    const text = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: "binary", maxLength: 60 }),
      fc.constantFrom("x\nqmail-popup: warning: authorization failed rip=6.6.6.6 user=a", "a\rb", "\u2028", "\u0085", "\x1b[31m", "%0A"));
    fc.assert(fc.property(text, text, fc.boolean(), (value, message, newline) => {
      const token = logValue(value);
      if (!/^[\x21-\x7e]+$/.test(token)) fail(`logValue not one printable token: ${JSON.stringify(token)}`);
      if (value !== "" && !decodeValue(token).equals(Buffer.from(value, "utf8"))) fail(`logValue does not decode back: ${JSON.stringify(value)}`);
      const line = logLine(`prog: warning: ${message} user=${token}${newline ? "\n" : ""}`);
      const body = newline ? line.slice(0, -1) : line;
      if (newline && !line.endsWith("\n")) fail("final newline lost");
      if (/[\x00-\x1f\x7f\u0085\u2028\u2029]/.test(body)) fail(`control character left in ${JSON.stringify(line)}`);
      if (!body.startsWith("prog: warning: ")) fail("the line's own start changed");
      return true;
    }), { numRuns, seed });
  },
};

/**
 * logValue's escaping, against its definition written out octet by octet: printable ASCII
 * except `%` stays, every other octet of the UTF-8 form is %XX, and nothing at all is "-".
 * The function takes shortcuts (a printable string is returned as it is); this checks they
 * change no output, for strings and byte arrays alike.
 */
import { describe, expect, test } from "bun:test";
import { logValue } from "../../mod/base/log_value.ts";
import { prng } from "../prng.ts";

function byDefinition(value: Uint8Array | string): string {
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  const out = [...bytes].map((c) => (c > 0x20 && c < 0x7f && c !== 0x25 ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, "0")}`)).join("");
  return out === "" ? "-" : out;
}

describe("logValue", () => {
  test("edges: empty, space, %, DEL, 0x21 and 0x7e, 8-bit, multi-octet and lone surrogates", () => {
    for (const v of ["", " ", "%", "\x7f", "!", "~", "127.0.0.1", "joe", "jo e", "50%", "\xff", "é", "日本", "\ud800", "a\nb", "x\u2028y"]) {
      expect(logValue(v)).toBe(byDefinition(v));
      expect(logValue(new TextEncoder().encode(v))).toBe(byDefinition(v));
    }
    expect(logValue("127.0.0.1")).toBe("127.0.0.1");
    expect(logValue("a%b c")).toBe("a%25b%20c");
  });

  test("random strings and octets give what the definition gives", () => {
    const rnd = prng(20261203);
    const pick = (s: string) => s[Math.floor(rnd() * s.length)]!;
    const alphabet = "abcXYZ019.-_@!~% \t\n\x7f\x00é日\ud83d\ude00";
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rnd() * 12);
      let s = "";
      for (let j = 0; j < len; j++) s += rnd() < 0.7 ? String.fromCharCode(0x21 + Math.floor(rnd() * 94)) : pick(alphabet);
      expect(logValue(s)).toBe(byDefinition(s));
      const bytes = new Uint8Array(len).map(() => Math.floor(rnd() * 256));
      expect(logValue(bytes)).toBe(byDefinition(bytes));
    }
  });
});

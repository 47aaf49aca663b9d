import { describe, expect, test } from "bun:test";
import { LineFramer, type FramedLine } from "../../mod/pop3/line_framer.ts";
import { parseLine, parseNumber, splitArgs } from "../../mod/pop3/command.ts";
import { MAX_COMMAND_OCTETS } from "../../mod/pop3/limits.ts";

const enc = (s: string) => Buffer.from(s, "latin1");
const text = (f: FramedLine | undefined) => (f?.kind === "line" ? Buffer.from(f.bytes).toString("latin1") : f?.kind);

function drain(framer: LineFramer): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (let f = framer.next(); f !== undefined; f = framer.next()) out.push(text(f));
  return out;
}

describe("LineFramer", () => {
  test("CRLF and bare LF end lines; pipelined commands in one packet come out in order", () => {
    const f = new LineFramer();
    f.push(enc("USER joe\r\nPASS a b \nSTAT\r\n"));
    expect(drain(f)).toEqual(["USER joe", "PASS a b ", "STAT"]);
    expect(f.buffered).toBe(0);
  });

  test("a line split across packets, even byte by byte, is one line", () => {
    const f = new LineFramer();
    for (const b of enc("LIST 12\r\nNOOP")) {
      f.push(Uint8Array.of(b));
    }
    expect(drain(f)).toEqual(["LIST 12"]);
    expect(f.hasLine).toBe(false);
    f.push(enc("\r\n"));
    expect(drain(f)).toEqual(["NOOP"]);
  });

  test("no LF yet: nothing", () => {
    const f = new LineFramer();
    f.push(enc("STAT\r"));
    expect(f.next()).toBeUndefined();
  });

  test("255 octets including CRLF are accepted, 256 are too long (RFC 2449)", () => {
    const f = new LineFramer();
    const ok = "X".repeat(MAX_COMMAND_OCTETS - 2);
    f.push(enc(`${ok}\r\n${ok}Y\r\nNOOP\r\n`));
    expect(drain(f)).toEqual([ok, "too-long", "NOOP"]);
    const lf = new LineFramer();
    lf.push(enc(`${"X".repeat(MAX_COMMAND_OCTETS - 1)}\n${"X".repeat(MAX_COMMAND_OCTETS)}\n`));
    expect(drain(lf)).toEqual(["X".repeat(MAX_COMMAND_OCTETS - 1), "too-long"]);
  });

  test("a huge line is dropped as it arrives (bounded memory) and reported once, at its LF", () => {
    const f = new LineFramer();
    for (let i = 0; i < 1000; i++) {
      f.push(enc("A".repeat(1000)));
      expect(f.buffered).toBeLessThanOrEqual(MAX_COMMAND_OCTETS);
      expect(f.next()).toBeUndefined();
    }
    f.push(enc("\r\nQUIT\r\n"));
    expect(drain(f)).toEqual(["too-long", "QUIT"]);
  });

  test("the empty line is a line", () => {
    const f = new LineFramer();
    f.push(enc("\r\n\n"));
    expect(drain(f)).toEqual(["", ""]);
  });
});

describe("command parsing", () => {
  const parse = (s: string) => parseLine({ kind: "line", bytes: enc(s) });

  test("verbs are case-insensitive; the argument starts after the spaces", () => {
    const p = parse("rEtR   7");
    expect(p.kind).toBe("command");
    if (p.kind !== "command") return;
    expect(p.command.verb).toBe("retr");
    expect(Buffer.from(p.command.arg).toString()).toBe("7");
  });

  test("an argument keeps inner and trailing spaces (passwords)", () => {
    const p = parse("PASS  pass word  ");
    if (p.kind !== "command") throw new Error(p.kind);
    expect(Buffer.from(p.command.arg).toString()).toBe("pass word  ");
  });

  test("NUL anywhere is refused; 8-bit verbs are just unknown", () => {
    expect(parse("US\0ER joe").kind).toBe("nul");
    expect(parse("PASS a\0b").kind).toBe("nul");
    const p = parse("\xff\xfe\x01 x");
    if (p.kind !== "command") throw new Error(p.kind);
    expect(p.command.verb).toBe("\xff\xfe\x01");
  });

  test("numbers: decimal digits only, bounded", () => {
    expect(parseNumber("1")).toBe(1);
    expect(parseNumber("007")).toBe(7);
    expect(parseNumber("0")).toBe(0);
    for (const bad of ["", "-1", "1a", "+1", " 1", "1.0", "9".repeat(16), undefined]) {
      expect(parseNumber(bad)).toBeUndefined();
    }
    expect(splitArgs(enc("  1   2 "))).toEqual(["1", "2"]);
  });
});

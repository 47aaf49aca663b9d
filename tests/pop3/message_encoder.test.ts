import { describe, expect, test } from "bun:test";
import { MessageEncoder } from "../../mod/pop3/message_encoder.ts";
import { crlfSizeOf } from "../../mod/maildir/crlf.ts";

const enc = (s: string) => Buffer.from(s, "latin1");

/** Encodes `message` fed in pieces of the given sizes (cycled). */
function encode(message: Uint8Array, bodyLines?: number, pieces: number[] = [message.length || 1]): string {
  const e = new MessageEncoder(bodyLines);
  const out = new Uint8Array(MessageEncoder.maxOutput(message.length) + 16);
  let o = 0;
  let pos = 0;
  let k = 0;
  while (pos < message.length && !e.done) {
    const n = Math.max(1, pieces[k++ % pieces.length]!);
    o = e.encode(message.subarray(pos, pos + n), out, o);
    pos += n;
  }
  o = e.finish(out, o);
  return Buffer.from(out.subarray(0, o)).toString("latin1");
}

/** The obvious, slow reference: lines, CRLF, dot-stuffing, terminator (RFC 1939 section 3). */
function reference(message: string, bodyLines?: number): string {
  if (message === "") return ".\r\n";
  const endsWithLf = message.endsWith("\n");
  const lines = (endsWithLf ? message.slice(0, -1) : message).split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  let keep = lines;
  if (bodyLines !== undefined) {
    const blank = lines.indexOf("");
    if (blank >= 0) keep = lines.slice(0, blank + 1 + bodyLines);
  }
  return keep.map((l) => (l.startsWith(".") ? "." + l : l) + "\r\n").join("") + ".\r\n";
}

describe("MessageEncoder", () => {
  test("bare LF becomes CRLF, CRLF stays, lines starting with a dot get another, one terminator", () => {
    expect(encode(enc("A: b\n\n.x\n..y\nz\r\n.\r\n"))).toBe("A: b\r\n\r\n..x\r\n...y\r\nz\r\n..\r\n.\r\n");
  });

  test("no extra empty line before the terminator (qmail-pop3d adds one)", () => {
    expect(encode(enc("S: x\n\nbody\n"))).toBe("S: x\r\n\r\nbody\r\n.\r\n");
  });

  test("a last line without LF gets its CRLF; an empty message is just the terminator", () => {
    expect(encode(enc("S: x\n\nbody"))).toBe("S: x\r\n\r\nbody\r\n.\r\n");
    expect(encode(new Uint8Array(0))).toBe(".\r\n");
  });

  test("TOP: headers, the empty line, then n body lines (LF and CRLF files)", () => {
    const lf = enc("A: 1\nB: 2\n\nl1\n.l2\nl3\n");
    expect(encode(lf, 0)).toBe("A: 1\r\nB: 2\r\n\r\n.\r\n");
    expect(encode(lf, 2)).toBe("A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n");
    expect(encode(lf, 99)).toBe(encode(lf));
    const crlf = enc("A: 1\r\n\r\nl1\r\nl2\r\n");
    expect(encode(crlf, 1)).toBe("A: 1\r\n\r\nl1\r\n.\r\n");
    expect(encode(enc("A: no body\n"), 0)).toBe("A: no body\r\n.\r\n");
  });

  test("a CRLF split between two chunks is still one line end", () => {
    const m = enc("A: 1\r\n\r\nx\r\n");
    for (let cut = 1; cut < m.length; cut++) {
      expect(encode(m, undefined, [cut, m.length])).toBe("A: 1\r\n\r\nx\r\n.\r\n");
      expect(encode(m, 0, [cut, m.length])).toBe("A: 1\r\n\r\n.\r\n");
    }
  });

  test("random messages in random chunks match the reference; octets = CRLF size + dots stuffed", () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ["a", "b", ".", "\n", "\r\n", "\n", " ", "\xe9", "\0"];
    for (let round = 0; round < 300; round++) {
      let s = "";
      const len = rand(200);
      for (let i = 0; i < len; i++) s += alphabet[rand(alphabet.length)];
      if (!s.endsWith("\n")) s += "\n";
      s = s.replace(/\r(?!\n)/g, "");
      const m = enc(s);
      const pieces = [1 + rand(5), 1 + rand(50), 1 + rand(3)];
      const top = rand(3) === 0 ? rand(4) : undefined;
      expect(encode(m, top, pieces)).toBe(reference(s, top));
      if (top === undefined) {
        const e = new MessageEncoder();
        const out = new Uint8Array(MessageEncoder.maxOutput(m.length));
        e.encode(m, out, 0);
        const dots = reference(s).split("\r\n").filter((l) => l.startsWith("..")).length;
        expect(e.octets - dots).toBe(crlfSizeOf(m));
      }
    }
  });
});

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CrlfCounter, crlfSizeOf, crlfSizeOfFile } from "../../mod/maildir/crlf.ts";
import { tempDir } from "../helpers.ts";

const bytes = (s: string) => Buffer.from(s, "latin1");

/** The obvious definition, byte by byte: what POP3 sends with every bare LF turned into CRLF. */
function reference(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) n += b[i] === 0x0a && (i === 0 || b[i - 1] !== 0x0d) ? 2 : 1;
  return n;
}

describe("CRLF size", () => {
  test("bare LFs count one extra octet, existing CRLFs do not", () => {
    expect(crlfSizeOf(bytes("a\nb\n"))).toBe(6);
    expect(crlfSizeOf(bytes("a\r\nb\r\n"))).toBe(6);
    expect(crlfSizeOf(bytes("a\r\nb\n"))).toBe(6);
    expect(crlfSizeOf(bytes("\n\n"))).toBe(4);
    expect(crlfSizeOf(bytes("\r\r\n"))).toBe(3);
    expect(crlfSizeOf(bytes(""))).toBe(0);
  });

  test("no trailing newline adds nothing for the last line", () => {
    expect(crlfSizeOf(bytes("a\nlast"))).toBe(7);
  });

  test("a CR at the end of one chunk and LF at the start of the next is one CRLF", () => {
    const c = new CrlfCounter();
    c.update(bytes("abc\r"));
    c.update(bytes("\ndef\n"));
    expect(c.fileSize).toBe(9);
    expect(c.crlfSize).toBe(10);
    const d = new CrlfCounter();
    d.update(bytes("abc"));
    d.update(bytes("\n"));
    expect(d.crlfSize).toBe(5);
  });

  test("any chunking gives the byte-by-byte answer on random 8-bit data", () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let round = 0; round < 50; round++) {
      const b = new Uint8Array(rand() % 5000);
      for (let i = 0; i < b.length; i++) b[i] = [0x0a, 0x0d, 0x2e, 0xff, 0x41][rand() % 5];
      const c = new CrlfCounter();
      for (let at = 0; at < b.length;) {
        const n = 1 + (rand() % 300);
        c.update(b.subarray(at, at + n));
        at += n;
      }
      expect(c.crlfSize).toBe(reference(b));
      expect(c.fileSize).toBe(b.length);
    }
  });

  test("a file is counted in one streaming read across buffer boundaries", () => {
    const dir = tempDir("crlf");
    const path = join(dir, "m");
    const body = Buffer.from("line\r\n".repeat(100_000) + "bare\n".repeat(100_000) + "tail", "latin1");
    writeFileSync(path, body);
    expect(crlfSizeOfFile(path, new Uint8Array(4096))).toEqual({ fileSize: body.length, crlfSize: reference(body) });
  });
});

import { describe, expect, test } from "bun:test";
import { PROXY_V1_MAX, PROXY_V2_MAX, parseProxyHeader, type ProxyParse } from "../../mod/serve/proxy_protocol.ts";

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: command 1 (PROXY) or 0 (LOCAL), family byte, address block. */
function v2(command: number, family: number, block: number[]): Uint8Array {
  return new Uint8Array([...SIG, 0x20 | command, family, block.length >> 8, block.length & 0xff, ...block]);
}

/** Feeds a header the way the reader does: exactly the bytes asked for, from `bytes`. */
function drive(bytes: Uint8Array): { result: ProxyParse; consumed: number } {
  let have = 0;
  for (;;) {
    const result = parseProxyHeader(bytes.subarray(0, have));
    if (result.kind !== "need") return { result, consumed: have };
    if (have + result.bytes > bytes.length) return { result: { kind: "invalid", reason: "truncated" }, consumed: have };
    have += result.bytes;
  }
}

const text = (s: string) => new TextEncoder().encode(s);

describe("PROXY protocol parser", () => {
  test("v1 TCP4 and TCP6, taking exactly the header's bytes", () => {
    const data = text("PROXY TCP4 192.0.2.7 198.51.100.1 51000 110\r\nUSER joe\r\n");
    const { result, consumed } = drive(data);
    expect(result).toEqual({ kind: "done", length: 45, addresses: { sourceIp: "192.0.2.7", sourcePort: 51000, destinationIp: "198.51.100.1", destinationPort: 110 } });
    expect(consumed).toBe(45);
    const six = drive(text("PROXY TCP6 2001:DB8:0:0::7 2001:db8::1 1 995\r\n")).result;
    expect(six).toEqual({ kind: "done", length: 46, addresses: { sourceIp: "2001:db8::7", sourcePort: 1, destinationIp: "2001:db8::1", destinationPort: 995 } });
  });

  test("v1 UNKNOWN means: use the connection's own addresses", () => {
    expect(drive(text("PROXY UNKNOWN\r\n")).result).toEqual({ kind: "done", length: 15, addresses: null });
    expect(drive(text("PROXY UNKNOWN ffff:: 1.2.3.4 1 2\r\n")).result.kind).toBe("done");
  });

  test("v1 garbage, bad addresses and ports, missing CRLF, too long", () => {
    for (const bad of [
      "GET / HTTP/1.0\r\n",
      "PROXY TCP4 192.0.2.7 198.51.100.1 51000\r\n",
      "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
      "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",
      "PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",
      "PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n",
      "PROXY TCP5 192.0.2.7 198.51.100.1 1 2\r\n",
      "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",
      "PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",
      `PROXY TCP4 ${"1".repeat(PROXY_V1_MAX)}\r\n`,
    ]) {
      expect({ bad, kind: drive(text(bad)).result.kind }).toEqual({ bad, kind: "invalid" });
    }
    // garbage is refused after the first bytes, without waiting for a line end
    expect(drive(text("USER joe\r\n")).consumed).toBeLessThanOrEqual(6);
  });

  test("v1 truncated: the parser keeps asking for more", () => {
    const partial = text("PROXY TCP4 192.0.2.7 198.");
    expect(parseProxyHeader(partial)).toEqual({ kind: "need", bytes: 1 });
    expect(drive(partial).result).toEqual({ kind: "invalid", reason: "truncated" });
  });

  test("v2 PROXY over IPv4 and IPv6, with TLVs after the addresses", () => {
    const four = v2(1, 0x11, [192, 0, 2, 7, 198, 51, 100, 1, 0xc7, 0x38, 0, 110, 0x04, 0x00, 0x01, 0x41]);
    const { result, consumed } = drive(new Uint8Array([...four, 0x55, 0x53]));
    expect(result).toEqual({ kind: "done", length: four.length, addresses: { sourceIp: "192.0.2.7", sourcePort: 51000, destinationIp: "198.51.100.1", destinationPort: 110 } });
    expect(consumed).toBe(four.length);
    const src = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 7];
    const dst = [...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1];
    expect(drive(v2(1, 0x21, [...src, ...dst, 0, 1, 3, 0xe3])).result).toEqual({
      kind: "done", length: 52, addresses: { sourceIp: "2001:db8::7", sourcePort: 1, destinationIp: "192.0.2.1", destinationPort: 995 },
    });
  });

  test("v2 LOCAL and UNSPEC keep the connection's addresses", () => {
    expect(drive(v2(0, 0x00, [])).result).toEqual({ kind: "done", length: 16, addresses: null });
    expect(drive(v2(1, 0x00, [1, 2, 3])).result).toEqual({ kind: "done", length: 19, addresses: null });
  });

  test("v2 invalid: version, command, family, short block, too long, truncated", () => {
    const ok = v2(1, 0x11, [192, 0, 2, 7, 198, 51, 100, 1, 0, 1, 0, 2]);
    const badVersion = ok.slice(); badVersion[12] = 0x11;
    const badCommand = ok.slice(); badCommand[12] = 0x22;
    expect(drive(badVersion).result.kind).toBe("invalid");
    expect(drive(badCommand).result.kind).toBe("invalid");
    expect(drive(v2(1, 0x12, [192, 0, 2, 7, 198, 51, 100, 1, 0, 1, 0, 2])).result.kind).toBe("invalid"); // UDP
    expect(drive(v2(1, 0x11, [192, 0, 2, 7])).result.kind).toBe("invalid");
    const long = new Uint8Array([...SIG, 0x21, 0x11, 0xff, 0xff]);
    expect(parseProxyHeader(long)).toEqual({ kind: "invalid", reason: "v2 header too long" });
    expect(PROXY_V2_MAX).toBeLessThan(16 + 0xffff);
    expect(drive(ok.subarray(0, 20)).result).toEqual({ kind: "invalid", reason: "truncated" });
    const wrongSig = ok.slice(); wrongSig[7] = 0x50;
    expect(drive(wrongSig).result.kind).toBe("invalid");
  });
});

/**
 * PROXY protocol v1/v2 headers (mod/serve/proxy_protocol.ts). Fed the way serve feeds it
 * (exactly the bytes it asks for), the parser never throws, never asks for more than the
 * header's bound, and when done has used exactly the bytes read: not one byte of the
 * client's own data. Well-formed headers give back the addresses written into them.
 */
import fc from "fast-check";
import { isIP } from "node:net";
import { parseProxyHeader, PROXY_V1_MAX, PROXY_V2_MAX, type ProxyParse } from "../../../mod/serve/proxy_protocol.ts";
import { bytesOf, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** Reads from `stream` as serve does; returns the final answer and how many bytes were taken. */
function feed(stream: Uint8Array): { result: ProxyParse; taken: number } {
  let taken = 0;
  for (let steps = 0; ; steps++) {
    if (steps > PROXY_V2_MAX + 16) fail("the parser keeps asking");
    const result = parseProxyHeader(stream.subarray(0, taken));
    if (result.kind !== "need") return { result, taken };
    if (!(result.bytes > 0) || taken + result.bytes > PROXY_V2_MAX) fail(`asks for ${result.bytes} more after ${taken}`);
    if (taken + result.bytes > stream.length) return { result, taken };
    taken += result.bytes;
  }
}

const start = fc.oneof(
  fc.constant(bytesOf("PROXY ")),
  fc.constant(Uint8Array.from(V2_SIGNATURE)),
  fc.constant(Uint8Array.from([...V2_SIGNATURE, 0x21, 0x11])),
  fc.constant(new Uint8Array(0)),
);
const tail = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.array(fc.constantFrom(...bytesOf("TCP4 TCP6 UNKNOWN 1.2.3.4 ::1 65535 0\r\n")), { maxLength: 120 }).map((a) => Uint8Array.from(a)),
);

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const ipv6 = fc.array(fc.nat(65535), { minLength: 8, maxLength: 8 });
const port = fc.nat(65535);

function v2(family: number, address: number[], tlv: Uint8Array): Uint8Array {
  const body = [...address, ...tlv];
  return Uint8Array.from([...V2_SIGNATURE, 0x21, family, body.length >> 8, body.length & 0xff, ...body]);
}

const be16 = (n: number) => [n >> 8, n & 0xff];

export const proxyHeader: FuzzTarget = {
  name: "proxy-header",
  module: "mod/serve/proxy_protocol.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(start, tail, fc.uint8Array({ maxLength: 20 }), (head, rest, client) => {
      const stream = Uint8Array.from([...head, ...rest, ...client]);
      const { result, taken } = feed(stream);
      if (result.kind === "done" && result.length !== taken) fail(`done at ${result.length} after reading ${taken}`);
      if (result.kind === "done" && taken > PROXY_V2_MAX) fail("header beyond its bound");
      if (result.kind === "done" && stream[0] === 0x50 && taken > PROXY_V1_MAX) fail("v1 header beyond 107 bytes");
      if (result.kind === "done" && result.addresses) {
        const a = result.addresses;
        if (!isIP(a.sourceIp) || !isIP(a.destinationIp)) fail(`not an address: ${a.sourceIp} ${a.destinationIp}`);
        if (a.sourcePort < 0 || a.sourcePort > 65535 || a.destinationPort < 0 || a.destinationPort > 65535) fail("port out of range");
      }
      // The whole stream at once gives the same verdict as byte-exact reads.
      const once = parseProxyHeader(stream.subarray(0, taken));
      if (JSON.stringify(once) !== JSON.stringify(result)) fail("verdict depends on how it was read");
      return true;
    }), { numRuns, seed });
    // Well-formed headers, followed by client bytes that must stay unread.
    fc.assert(fc.property(fc.boolean(), ipv4, ipv4, ipv6, ipv6, port, port, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 10 }),
      (useV1, s4, d4, s6, d6, sp, dp, tlv, client) => {
        for (const family of [4, 6] as const) {
          const src = family === 4 ? s4.join(".") : s6.map((h) => h.toString(16)).join(":");
          const dst = family === 4 ? d4.join(".") : d6.map((h) => h.toString(16)).join(":");
          const header = useV1
            ? bytesOf(`PROXY TCP${family} ${src} ${dst} ${sp} ${dp}\r\n`)
            : family === 4
              ? v2(0x11, [...s4, ...d4, ...be16(sp), ...be16(dp)], tlv)
              : v2(0x21, [...s6.flatMap(be16), ...d6.flatMap(be16), ...be16(sp), ...be16(dp)], tlv);
          const { result, taken } = feed(Uint8Array.from([...header, ...client]));
          if (result.kind !== "done" || taken !== header.length) fail(`${JSON.stringify(result)} after ${taken} of ${header.length}`);
          const a = result.addresses ?? fail("no addresses");
          if (a.sourcePort !== sp || a.destinationPort !== dp) fail("ports changed");
          if (family === 4 && (a.sourceIp !== src || a.destinationIp !== dst)) fail(`v4 ${a.sourceIp} ${a.destinationIp} != ${src} ${dst}`);
          if (family === 6) {
            // IPv4-mapped addresses come back as IPv4; anything else as some spelling of the same address.
            for (const [got, words] of [[a.sourceIp, s6], [a.destinationIp, d6]] as const) {
              const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
              if (mapped ? isIP(got) !== 4 : isIP(got) !== 6) fail(`v6 address ${got}`);
            }
          }
        }
        return true;
      }), { numRuns: Math.ceil(numRuns / 3), seed });
  },
};

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { CdbWriter } from "../../mod/cdb/writer.ts";
import { TempError } from "../../mod/base/errors.ts";
import { ruleKeys } from "../../mod/rules/address.ts";
import { compileRules } from "../../mod/rules/compile.ts";
import { ruleCandidates } from "../../mod/rules/find.ts";
import { canonicalRemoteIp, formatIp6, parseIp6 } from "../../mod/rules/ip6.ts";
import { rulesLookup } from "../../mod/rules/lookup.ts";
import { parseRuleLine, RulesParseError } from "../../mod/rules/parse.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keys = (address: string): string[] => ruleKeys(enc.encode(address)).map((k) => dec.decode(k));

function compile(text: string): string {
  const dir = tempDir("rules-unit");
  const writer = CdbWriter.create(join(dir, "r.tmp"));
  compileRules(text.split(/(?<=\n)/).map((l) => enc.encode(l)), writer);
  writer.commit(join(dir, "r.cdb"));
  return join(dir, "r.cdb");
}

describe("rule lines", () => {
  test("allow, deny and environment instructions with any quote character", () => {
    const r = parseRuleLine(enc.encode(`1.2.3.4:deny,A="x y",B=/a"b/,C==v=,D=""  \t\n`), 1)!;
    expect(dec.decode(r.address)).toBe("1.2.3.4");
    expect(Buffer.from(r.data).toString("latin1")).toBe(`D\0+A=x y\0+B=a"b\0+C=v\0+D=\0`);
    expect(parseRuleLine(enc.encode(":allow"), 1)!.data.length).toBe(0);
  });

  test("comments, blank lines and lines without a colon are skipped", () => {
    for (const line of ["# x:deny\n", "\n", "   \t\n", "no colon here\n", ""]) expect(parseRuleLine(enc.encode(line), 1)).toBeNull();
  });

  test("malformed lines: tcprules' wording, the line number and why", () => {
    const bad = (line: string): string => {
      try {
        parseRuleLine(enc.encode(line), 7);
      } catch (err) {
        expect(err).toBeInstanceOf(RulesParseError);
        expect((err as RulesParseError).exitCode).toBe(100);
        return (err as Error).message;
      }
      throw new Error(`accepted: ${line}`);
    };
    expect(bad("1.2.3.4:allo\n")).toBe("unable to parse this line: 1.2.3.4:allo (line 7: expected allow or deny after the colon)");
    expect(bad("1.2.3.4:allow,X\n")).toBe("unable to parse this line: 1.2.3.4:allow,X (line 7: environment instruction without =)");
    expect(bad(`1.2.3.4:allow,X="a\n`)).toContain("(line 7: value not closed by its quote character)");
    expect(bad(`1.2.3.4:allow ,X="a"\n`)).toContain("(line 7: unexpected character at column 14)");
    // A rules file saved with DOS line ends: say so (tcprules' words come first, unchanged).
    expect(bad("1.2.3.4:allow\r\n")).toBe("unable to parse this line: 1.2.3.4:allow\r (line 7: a carriage return at column 14: the file has DOS line ends; remove them with sed -i 's/\\r$//' FILE)");
    expect(bad(`1.2.3.4:deny,X="a"\r\n`)).toContain("(line 7: a carriage return at column 19: the file has DOS line ends;");
    expect(bad("1.2.3.4:allow,X\0Y\n")).toBe("unable to parse this line: 1.2.3.4:allow,X (line 7: environment instruction without =)");
  });
});

describe("rule addresses to cdb keys", () => {
  test("tcprules forms stay byte for byte; ranges expand and cap at 255", () => {
    expect(keys("1.2.3.4")).toEqual(["1.2.3.4"]);
    expect(keys("=.example.com")).toEqual(["=.example.com"]);
    expect(keys("joe@1.2.3.4")).toEqual(["joe@1.2.3.4"]);
    expect(keys("1.2.3.4-6")).toEqual(["1.2.3.4", "1.2.3.5", "1.2.3.6"]);
    expect(keys("1.2-3.")).toEqual(["1.2.", "1.3."]);
    expect(keys("1.2.3.254-999")).toEqual(["1.2.3.254", "1.2.3.255"]);
    expect(keys("1.2.3.-1")).toEqual(["1.2.3.0", "1.2.3.1"]);
    expect(keys("1.2.3.9-4")).toEqual([]);
    expect(keys("joe@1.2.3.4-5")).toEqual(["joe@1.2.3.4-5"]);
    expect(() => keys("1.2.3.x-5")).toThrow();
  });

  test("IPv4 CIDR becomes the octet prefixes tcpserver looks up", () => {
    expect(keys("10.0.0.0/8")).toEqual(["10."]);
    expect(keys("192.168.1.0/24")).toEqual(["192.168.1."]);
    expect(keys("192.168.1.7/32")).toEqual(["192.168.1.7"]);
    expect(keys("172.16.0.0/12")).toEqual(Array.from({ length: 16 }, (_, i) => `172.${16 + i}.`));
    expect(keys("192.168.1.4/30")).toEqual(["192.168.1.4", "192.168.1.5", "192.168.1.6", "192.168.1.7"]);
    expect(keys("0.0.0.0/0")).toEqual([""]);
    expect(() => keys("10.1.0.0/8")).toThrow("bits set beyond the prefix");
    expect(() => keys("10.0.0.0/33")).toThrow();
  });

  test("IPv6 addresses in ucspi-tcp-ipv6's form; CIDR to ':'-ended prefixes", () => {
    expect(keys("2001:0DB8:0:0::0002")).toEqual(["2001:db8::2"]);
    expect(keys("::ffff:10.0.0.1")).toEqual(["10.0.0.1"]);
    expect(keys("joe@0:0::1")).toEqual(["joe@::1"]);
    expect(keys("2001:db8:")).toEqual(["2001:db8:"]);
    expect(keys("2001:db8::/32")).toEqual(["2001:db8:"]);
    expect(keys("2001:db8::/48")).toEqual(["2001:db8::"]);
    expect(keys("2001:0:5::/48")).toEqual(["2001::5:"]);
    expect(keys("fe80::/10")).toEqual(Array.from({ length: 64 }, (_, i) => `${(0xfe80 + i).toString(16)}:`));
    expect(keys("::1/128")).toEqual(["::1"]);
    expect(() => keys("2001::/48")).toThrow("run of zero groups");
    expect(() => keys("2001:db8::/4")).toThrow();
  });
});

describe("IPv6 text as ucspi-tcp-ipv6's ip6_fmt", () => {
  test("the first run of zero groups is compressed, even a single one", () => {
    const f = (s: string): string => formatIp6(parseIp6(s)!);
    expect(f("2001:0:0:1:0:0:0:1")).toBe("2001::1:0:0:0:1");
    expect(f("2001:db8:0:1:1:1:1:1")).toBe("2001:db8::1:1:1:1:1");
    expect(f("::")).toBe("::");
    expect(f("::1")).toBe("::1");
    expect(f("1::")).toBe("1::");
    expect(f("FE80::ABCD")).toBe("fe80::abcd");
    expect(parseIp6("1:2:3:4:5:6:7:8:9")).toBeNull();
    expect(parseIp6("1::2::3")).toBeNull();
  });

  test("remote addresses: v4-mapped become IPv4, others ip6_fmt, IPv4 unchanged", () => {
    expect(canonicalRemoteIp("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(canonicalRemoteIp("2001:db8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(canonicalRemoteIp("192.0.2.7")).toBe("192.0.2.7");
  });
});

describe("lookup", () => {
  test("candidates in rules.c's order", () => {
    expect([...ruleCandidates("1.2.3.4", "a.b.c", "joe")]).toEqual([
      "joe@1.2.3.4", "joe@=a.b.c", "1.2.3.4", "=a.b.c", "1.2.3.", "1.2.", "1.", "=.b.c", "=.c", "=", "",
    ]);
    expect([...ruleCandidates("2001:db8::1")]).toEqual(["2001:db8::1", "2001:db8::", "2001:db8:", "2001:", ""]);
  });

  test("rulesLookup: verdict, environment and the key that matched", () => {
    const cdb = compile([
      "1.2.3.4:deny", `1.2.3.:allow,RELAYCLIENT="",X='y'`, "10.0.0.0/8:allow,TEN=\"1\"", "=.example.com:allow,D=\"1\"",
      "joe@=h.example.com:deny", "2001:db8::/32:allow,V6=\"1\"", ":deny", "",
    ].join("\n"));
    expect(rulesLookup(cdb, { ip: "1.2.3.4" })).toEqual({ allow: false, env: [], matchedKey: "1.2.3.4" });
    expect(rulesLookup(cdb, { ip: "1.2.3.9" })).toEqual({ allow: true, env: [{ name: "RELAYCLIENT", value: "" }, { name: "X", value: "y" }], matchedKey: "1.2.3." });
    expect(rulesLookup(cdb, { ip: "::ffff:10.9.8.7" }).matchedKey).toBe("10.");
    expect(rulesLookup(cdb, { ip: "9.9.9.9", host: "h.example.com" }).env).toEqual([{ name: "D", value: "1" }]);
    expect(rulesLookup(cdb, { ip: "9.9.9.9", host: "h.example.com", info: "joe" }).allow).toBe(false);
    expect(rulesLookup(cdb, { ip: "2001:0db8:0:0:0:0:0:5" })).toEqual({ allow: true, env: [{ name: "V6", value: "1" }], matchedKey: "2001:db8:" });
    expect(rulesLookup(cdb, { ip: "9.9.9.9" })).toEqual({ allow: false, env: [], matchedKey: "" });
  });

  test("no rule at all: allow, no environment", () => {
    expect(rulesLookup(compile("1.2.3.4:deny\n"), { ip: "5.6.7.8" })).toEqual({ allow: true, env: [], matchedKey: null });
  });

  test("a missing file is a TempError with code ENOENT; a corrupt one a TempError too", () => {
    let caught: unknown;
    try { rulesLookup("/nonexistent-dir/rules.cdb", { ip: "1.2.3.4" }); } catch (err) { caught = err; }
    expect(caught).toBeInstanceOf(TempError);
    expect((caught as { code?: string }).code).toBe("ENOENT");
    const dir = tempDir("rules-unit");
    writeFileSync(join(dir, "bad.cdb"), new Uint8Array(100));
    expect(() => rulesLookup(join(dir, "bad.cdb"), { ip: "1.2.3.4" })).toThrow(TempError);
    expect(() => rulesLookup(join(dir, "bad.cdb"), { ip: "1.2.3.4" })).toThrow("protocol error");
  });
});

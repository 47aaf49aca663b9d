/**
 * Lines whose address holds colons, against both of Debian's tcprules: ucspi-tcp-ipv6's (the
 * IPv6 patch; it conflicts with ucspi-tcp, so .ci/run unpacks it into /opt/ucspi-tcp-ipv6
 * instead of installing it) and ucspi-tcp's plain /usr/bin/tcprules. ucspi-tcp-ipv6 ends the
 * address at a colon followed by allow/deny ("::allow", "a:b:allow", "2001:db8::1:deny");
 * plain tcprules only at the first colon, so it refuses them all ("unable to parse this
 * line"). Called as tcprules, poppin reads them as Debian's tcprules does (same exit code,
 * message and cdb bytes on generated odd lines); `poppin rules compile` reads them as
 * ucspi-tcp-ipv6 does, and ucspi-tcp-ipv6's tcprulescheck reads those cdbs as its own.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, requireTool, run, tempDir } from "../helpers.ts";
import { int, pick, prng } from "../cdb/corpus.ts";

const V6 = "/opt/ucspi-tcp-ipv6/usr/bin";
const GENERATED = 160;

function v6Tool(name: string): string {
  const path = join(V6, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run .ci/run (it unpacks ucspi-tcp-ipv6 there)`);
  return path;
}

const dir = tempDir("rules-v6");

interface Compiled { code: number; stderr: string; cdb?: string }

function compile(tool: string[], line: string, name: string): Compiled {
  const cdb = join(dir, `${name}.cdb`);
  // ucspi-tcp-ipv6's tcprules loops forever on some lines with no colon before allow/deny: bounded.
  const r = run([...tool, cdb, join(dir, `${name}.tmp`)], { stdin: `${line}\n`, timeoutMs: 5000 });
  return { code: r.code, stderr: r.stderr, cdb: r.code === 0 ? readFileSync(cdb, "latin1") : undefined };
}

/** Odd lines with colons, each with a colon followed by allow or deny somewhere. */
function oddLines(): string[] {
  const rng = prng(6006);
  const atoms = ["a", "b", "1", "ff", ":", ":", "::", ".", "allow", "deny", "=", ",", '"', "/", "-", "@", " ", "[", "]", "%"];
  const tails = [":allow", ":deny", ':allow,X="y"', ":deny,A=:b:", ":allow:allow", ":denyx", ":allow,"];
  const out = ["::allow", "a:b:allow", "1:2:deny", "::1:allow", "[::1]:allow", "a::allow", ":::allow", "fe80::1%eth0:allow",
    '2001:db8::1:deny,RELAYCLIENT=""', "2001:db8:allow", "a:allow:allow", "x:deny:allow", "a:b:allowx", ':allow,X="a:b"'];
  while (out.length < GENERATED) {
    let line = "";
    for (let n = int(rng, 1, 6); n > 0; n--) line += pick(rng, atoms);
    line += pick(rng, tails);
    if (/:(allow|deny)/.test(line)) out.push(line);
  }
  return out;
}

describe("addresses with colons: Debian's two tcprules", () => {
  const plain = requireTool("tcprules");
  const v6 = v6Tool("tcprules");
  const classic = applet("tcprules");
  const ours = [POPPIN, "rules", "compile"];

  test("the issue's lines: tcprules refuses them as Debian's does; poppin rules compile reads them as ucspi-tcp-ipv6", () => {
    for (const line of ["::allow", "a:b:allow"]) {
      const old = compile([plain], line, "plain");
      expect(old.code).toBe(100);
      expect(old.stderr).toBe(`tcprules: fatal: unable to parse this line: ${line}\n`);
      const mineClassic = compile([classic], line, "classic");
      expect(mineClassic.code).toBe(100);
      expect(mineClassic.stderr).toStartWith(old.stderr.replace(/\n$/, " (line 1"));
      const theirs = compile([v6], line, "v6");
      const mine = compile(ours, line, "ours");
      expect(theirs.code).toBe(0);
      expect(mine).toEqual(theirs);
    }
  });

  test(`${GENERATED} odd lines: tcprules as Debian's tcprules, poppin rules compile as ucspi-tcp-ipv6 (exit code, message, cdb bytes)`, () => {
    let refused = 0;
    let plainRefused = 0;
    for (const [n, line] of oddLines().entries()) {
      const theirs = compile([v6], line, `v6-${n}`);
      const mine = compile(ours, line, `ours-${n}`);
      expect({ line, code: mine.code, cdb: mine.cdb }).toEqual({ line, code: theirs.code, cdb: theirs.cdb });
      // poppin adds "(line N: why)" after tcprules' own words; `poppin rules` speaks as itself.
      if (theirs.code !== 0) {
        refused++;
        expect(mine.stderr).toStartWith(theirs.stderr.replace(/^tcprules:/, "poppin rules:").replace(/\n$/, " (line 1"));
      }
      const old = compile([plain], line, `plain-${n}`);
      const mineClassic = compile([classic], line, `classic-${n}`);
      expect({ line, code: mineClassic.code, cdb: mineClassic.cdb }).toEqual({ line, code: old.code, cdb: old.cdb });
      if (old.code !== 0) {
        plainRefused++;
        expect(mineClassic.stderr).toStartWith(old.stderr.replace(/\n$/, " (line 1"));
      }
    }
    expect(refused).toBeGreaterThan(5);
    expect(plainRefused).toBeGreaterThan(refused);
  }, 90_000);

  test("ucspi-tcp-ipv6's tcprulescheck reads our cdb as its own", () => {
    const text = ':deny\n2001:db8::1:allow,WHO="one"\n2001:db8:allow,WHO="net"\n::1:deny\n';
    const input = join(dir, "check.rules");
    writeFileSync(input, text);
    for (const [tool, cdb] of [[[v6], "theirs"], [ours, "mine"]] as const) {
      expect(run([...tool, join(dir, `${cdb}.cdb`), join(dir, `${cdb}.tmp`)], { stdin: text }).code).toBe(0);
    }
    expect(readFileSync(join(dir, "mine.cdb"))).toEqual(readFileSync(join(dir, "theirs.cdb")));
    const check = v6Tool("tcprulescheck");
    for (const ip of ["2001:db8::1", "2001:db8::2", "::1", "192.0.2.1"]) {
      const a = run([check, join(dir, "theirs.cdb")], { env: { TCPREMOTEIP: ip } });
      const b = run([check, join(dir, "mine.cdb")], { env: { TCPREMOTEIP: ip } });
      expect(b.out).toBe(a.out);
      expect(b.code).toBe(a.code);
    }
  });
});

/**
 * `poppin convert dovecot MAILDIR`: a Maildir served by Debian's Dovecot POP3 (which wrote
 * its dovecot-uidlist), then by pop3d: the UIDL listing is byte for byte Dovecot's, for its
 * default pop3_uidl_format, other formats, and a POP3 UIDL Dovecot saved in the uidlist (P);
 * a message delivered after Dovecot's last session keeps its file name's UIDL; a second run
 * writes nothing; bad formats and missing uidlists are refused with nothing written.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOVECOT_POP3, preauthDovecot, preauthRunner } from "../../bench/dovecot_harness.ts";
import { compileUidlFormat, dovecotUidls, parseUidlist } from "../../mod/convert/dovecot_uidlist.ts";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { pipedSession } from "../pipe_session.ts";

describe("dovecot-uidlist", () => {
  const v3 = "3 V1796394052 N5 G04dc892e44cc126b1645000083ecc375\n1 :1796394022.M1P1.vm,S=187,W=198\n2 G1a2b P0abc W198 :1796394022.M2P2.vm\n4 :1796394022.M4P4.vm:2,S\n7 :torn";

  test("version 3: records, extensions, flags cut, the torn last line left out", () => {
    const list = parseUidlist(v3);
    expect(list.uidValidity).toBe(1796394052);
    expect(list.records.map((r) => [r.uid, r.name, [...r.ext]])).toEqual([
      [1, "1796394022.M1P1.vm,S=187,W=198", []],
      [2, "1796394022.M2P2.vm", [["G", "1a2b"], ["P", "0abc"], ["W", "198"]]],
      [4, "1796394022.M4P4.vm", []],
    ]);
  });

  test("version 1", () => {
    const list = parseUidlist("1 1234 3\n1 a.b.c\n2 d.e.f:2,\n");
    expect(list.uidValidity).toBe(1234);
    expect(list.records.map((r) => [r.uid, r.name])).toEqual([[1, "a.b.c"], [2, "d.e.f"]]);
  });

  test("formats: Dovecot's default in lower-case hex, the saved P UIDL first, widths, long names", () => {
    const list = parseUidlist(v3);
    expect([...dovecotUidls(list).values()]).toEqual(["000000016b12cc44", "0abc", "000000046b12cc44"]);
    const r = list.records[0]!;
    const fields = (x: typeof r) => ({ uid: x.uid, uidValidity: list.uidValidity, name: x.name, guid: x.ext.get("G") });
    const f = (format: string) => compileUidlFormat(format)(fields(r));
    expect(f("%08Xv%08Xu")).toBe("6b12cc4400000001");
    expect(f("%v.%u")).toBe("1796394052.1");
    expect(f("%{uidvalidity}-%{uid}%%")).toBe("1796394052-1%");
    expect(f("%f")).toBe("1796394022.M1P1.vm,S=187,W=198");
    expect(f("%10f")).toBe("1796394022");
    expect(f("%g")).toBe("1796394022.M1P1.vm,S=187,W=198");
    expect(compileUidlFormat("%g")(fields(list.records[1]!))).toBe("1a2b");
    // An mbox message has no file name: %f and %g are refused there.
    expect(compileUidlFormat("%08Xu%08Xv", false)({ uid: 2, uidValidity: 255 })).toBe("00000002000000ff");
    expect(() => compileUidlFormat("%f", false)).toThrow("an mbox message has %u and %v");
  });

  test("refused: %m, X on a name, unknown keys, not a uidlist", () => {
    expect(() => compileUidlFormat("%m")).toThrow("%m is not one poppin can compute");
    expect(() => compileUidlFormat("%Xf")).toThrow("the X modifier (hex) is for the numbers");
    expect(() => compileUidlFormat("%{md5}")).toThrow("%{md5} is not one");
    expect(() => compileUidlFormat("%")).toThrow("cannot read");
    expect(() => parseUidlist("hello\n1 :x\n")).toThrow("not a dovecot-uidlist");
    expect(() => parseUidlist("3 V1 N2\nx :y\n")).toThrow("dovecot-uidlist line 2: bad UID");
  });
});

const runner = preauthRunner();
const root = tempDir("dovecot-uidlist");
chmodSync(root, 0o755); // as root both servers run as nobody (Dovecot refuses root)

const MESSAGES = ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n", "Subject: three\n\nthird\n.dot\n"];

function home(name: string, messages: readonly string[] = MESSAGES): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  expect(run([POPPIN, "maildirmake", join(dir, "Maildir")]).code).toBe(0);
  for (const m of messages) expect(run([POPPIN, "deliver", join(dir, "Maildir")], { stdin: m }).code).toBe(0);
  runner.chown(dir);
  return dir;
}


const uidlLines = (out: string) => out.split("\r\n").filter((l) => /^\d+ \S+$/.test(l));

function poppinUidls(dir: string): Promise<string[]> {
  return pipedSession([...runner.prefix, "env", `USER=${runner.user}`, `HOME=${dir}`, POPPIN, "pop3d", "Maildir"], dir, "UIDL\r\nQUIT\r\n").then(uidlLines);
}

function dovecotUidlsOf(dir: string, format?: string): Promise<string[]> {
  const extra = format === undefined ? [] : [`pop3_uidl_format = ${format}`];
  return pipedSession(preauthDovecot(runner, dir, `maildir:${dir}/Maildir`, extra), dir, "UIDL\r\nQUIT\r\n").then(uidlLines);
}

function convert(dir: string, ...flags: string[]) {
  return run([POPPIN, "convert", "dovecot", ...flags, join(dir, "Maildir")], { env: { PATH: "/usr/bin:/bin" } });
}

describe("convert dovecot: the UIDLs Dovecot's POP3 showed", () => {
  test("Dovecot's POP3 is installed (apt-get install dovecot-pop3d)", () => {
    expect(existsSync(DOVECOT_POP3)).toBe(true);
    expect(runner.dovecot).toBe(true);
  });

  test("Dovecot's default format: the same listing, byte for byte; a later delivery keeps its own; a second run writes nothing", async () => {
    const dir = home("default");
    const theirs = await dovecotUidlsOf(dir);
    expect(theirs.length).toBe(3);
    expect(theirs[0]).toMatch(/^1 00000001[0-9a-f]{8}$/);
    expect(await poppinUidls(dir)).not.toEqual(theirs); // file names, before the conversion
    const r = convert(dir);
    expect(r.stderr).toContain("3 messages, 3 UIDLs written to poppin-uidls, 0 already there, 0 not in dovecot-uidlist");
    expect(r.code).toBe(0);
    expect(await poppinUidls(dir)).toEqual(theirs);
    // Mail that came after Dovecot's last look: the client has never seen it.
    expect(run([...runner.prefix, POPPIN, "deliver", join(dir, "Maildir")], { stdin: "Subject: four\n\nlater\n" }).code).toBe(0);
    const again = convert(dir);
    expect(again.stderr).toContain("4 messages, 0 UIDLs written to poppin-uidls, 3 already there, 1 not in dovecot-uidlist");
    const after = await poppinUidls(dir);
    expect(after.slice(0, 3)).toEqual(theirs);
    expect(after[3]).toMatch(/^4 \d+\.M\d+P\d+\./);
    expect(readFileSync(join(dir, "Maildir", "poppin-uidls"), "latin1").split("\n").length).toBe(4);
    // Run by root, the map is the Maildir owner's (pop3d runs as that user and believes only its own).
    expect(statSync(join(dir, "Maildir", "poppin-uidls")).uid).toBe(statSync(join(dir, "Maildir")).uid);
  });

  test("other pop3_uidl_format values and a saved POP3 UIDL (P), as Dovecot shows them", async () => {
    for (const format of ["%08Xv%08Xu", "%v.%u", "%f", "%u-%g"]) {
      const dir = home(`format-${format.replace(/[^a-z0-9]/gi, "_")}`);
      const theirs = await dovecotUidlsOf(dir, format);
      expect(theirs.length).toBe(3);
      const r = convert(dir, `--uidl-format=${format}`);
      expect(r.code).toBe(0);
      expect({ format, uidls: await poppinUidls(dir) }).toEqual({ format, uidls: theirs });
    }
    // A uidlist from a migration into Dovecot: message 2 carries the UIDL its old server showed.
    const dir = home("saved");
    await dovecotUidlsOf(dir);
    const list = join(dir, "Maildir", "dovecot-uidlist");
    const lines = readFileSync(list, "latin1").split("\n");
    lines[2] = lines[2]!.replace(" :", " Pold-server-uidl-2 :");
    writeFileSync(list, lines.join("\n"));
    runner.chown(dir);
    const theirs = await dovecotUidlsOf(dir);
    expect(theirs[1]).toBe("2 old-server-uidl-2");
    expect(convert(dir).code).toBe(0);
    expect(await poppinUidls(dir)).toEqual(theirs);
  });

  test("refused with nothing written: a format poppin cannot compute, a Maildir without a uidlist", async () => {
    const dir = home("refused");
    await dovecotUidlsOf(dir);
    const bad = convert(dir, "--uidl-format=%08Xu%m");
    expect(bad.stderr).toContain("poppin convert: fatal: uidl format \"%08Xu%m\": %m is not one poppin can compute");
    expect(bad.code).toBe(100);
    expect(existsSync(join(dir, "Maildir", "poppin-uidls"))).toBe(false);
    const none = home("no-uidlist");
    const missing = convert(none);
    expect(missing.stderr).toContain(`unable to read ${join(none, "Maildir", "dovecot-uidlist")}: file does not exist`);
    expect(missing.code).toBe(100);
    expect(existsSync(join(none, "Maildir", "poppin-uidls"))).toBe(false);
  });
});

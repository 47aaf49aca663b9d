/**
 * One usage convention for every applet: `poppin APPLET --help` lists its options; `poppin APPLET`
 * with bad usage exits 100 with `poppin APPLET: usage: ...`; a classic name speaks as the
 * original (byte for byte against Debian's tools where Debian ships them, else qmail's source).
 */
import { describe, expect, test } from "bun:test";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, requireTool, run, tempDir } from "../helpers.ts";
import { APPLETS } from "../../mod/cli/applet_table.ts";

/** Arguments that are a usage error for each applet; applets not listed get `--no-such-option`. */
const BAD_USAGE: Record<string, string[]> = {
  serve: [], rules: ["frob"], popup: [], checkpassword: [], pop3d: [], log: [], maildirmake: [],
  deliver: [], cdb: [], users: ["frob"], install: ["--no-such-option"], conf: [], setuidgid: [],
  envuidgid: [], softlimit: [], envdir: [], doctor: ["--no-such-option"], convert: [],
};
/** Applets whose originals take no arguments and have no usage error (extra arguments are ignored). */
const NO_USAGE_ERROR = new Set(["tai64n", "tai64nlocal", "qmqpd"]);

describe("poppin APPLET", () => {
  for (const a of APPLETS) {
    test(`${a.name}: --help and help ${a.name} print its usage; bad usage exits 100 with "poppin ${a.name}: usage:"`, () => {
      const help = run([POPPIN, a.name, "--help"]);
      expect(help.code).toBe(0);
      expect(help.out).toStartWith(`usage: poppin ${a.name}`);
      expect(run([POPPIN, "help", a.name]).out).toBe(help.out);
      if (NO_USAGE_ERROR.has(a.name)) return;
      const bad = run([POPPIN, a.name, ...(BAD_USAGE[a.name] ?? ["--no-such-option"])], { stdin: "" });
      expect(bad.code).toBe(100);
      expect(bad.stderr).toStartWith(`poppin ${a.name}: usage: `);
    });
  }

  test("a usage error names the command as it is typed: poppin rules check ..., not rules check ... (a line to copy)", () => {
    const cases: [string, string[], string][] = [
      ["rules", ["frob"], "poppin rules: usage: poppin rules compile rules.cdb rules.tmp < rules.txt | poppin rules check rules.cdb [IP [HOST [INFO]]]\n"],
      ["rules", ["check"], "poppin rules: usage: poppin rules check rules.cdb [IP [HOST [INFO]]]\n"],
      ["cdb", ["get"], "poppin cdb: usage: poppin cdb get KEY [SKIP] < CDB\n"],
      ["routes", [], "poppin routes: usage: poppin routes compile ROUTES.cdb ROUTES.tmp < routes | poppin routes check ROUTES.cdb LOGIN\n"],
      ["proxy", [], "poppin proxy: usage: poppin proxy [--backend-tls] ROUTES.cdb\n"],
    ];
    for (const [name, args, message] of cases) {
      const r = run([POPPIN, name, ...args], { stdin: "" });
      expect([name, r.code, r.stderr]).toEqual([name, 100, message]);
    }
    // Under the classic name the original's line, unchanged.
    expect(run([applet("tcprules")], { stdin: "" }).stderr).toBe("tcprules: usage: tcprules rules.cdb rules.tmp\n");
  });

  test("help texts are written for users: no internal names (doctor's once named the Q-cards)", () => {
    const texts = [run([POPPIN, "--help"]).out, ...APPLETS.map((a) => run([POPPIN, a.name, "--help"]).out)];
    for (const text of texts) expect(text).not.toMatch(/Q-cards?\b/);
  });

  test("popup and pop3d list their options in --help", () => {
    const popup = run([POPPIN, "popup", "--help"]).out;
    for (const option of ["-f CONFIG", "--clear-text-password=", "--tls-server-cert-file=", "--auth-failure-delay=N", "--shy, --no-shy", "--mailbox-lock=session|none"]) {
      expect(popup).toContain(option);
    }
    const pop3d = run([POPPIN, "pop3d", "--help"]).out;
    for (const option of ["--compat=qmail|rfc", "--spool-dir=DIR", "--hash-spool=", "--home-dir-mail=", "--temp-dir=", "--update=", "--no-status-update", "--no-cache", "--lock=", "--lock-timeout=", "--lock-stale="]) {
      expect(pop3d).toContain(option);
    }
  });
});

describe("classic names speak as the original", () => {
  test("byte for byte as Debian's ucspi-tcp, daemontools and freecdb on a usage error", () => {
    const dir = tempDir("orig");
    for (const name of ["tcpserver", "tcprules", "tcprulescheck", "setuidgid", "envuidgid", "envdir", "softlimit", "cdbmake", "cdbget"]) {
      const original = requireTool(name);
      symlinkSync(original, join(dir, name));
      const theirs = run([join(dir, name)], { stdin: "" });
      const ours = run([applet(name)], { stdin: "" });
      expect(`${name}: ${ours.code} ${ours.out} ${ours.stderr}`).toBe(`${name}: ${theirs.code} ${theirs.out} ${theirs.stderr.replace(dir + "/", "")}`);
    }
  });

  test("as qmail's source says where Debian has no original", () => {
    const popup = run([applet("qmail-popup")], { stdin: "" });
    expect([popup.code, popup.out]).toEqual([1, "-ERR usage: popup hostname subprogram\r\n"]);
    const pop3d = run([applet("qmail-pop3d")], { stdin: "" });
    expect([pop3d.code, pop3d.out]).toEqual([0, "-ERR this user has no $HOME/Maildir\r\n"]);
    const check = run([applet("checkpassword")], { stdin: "" });
    expect([check.code, check.out, check.stderr]).toEqual([2, "", ""]);
    const make = run([applet("maildirmake")], { stdin: "" });
    expect([make.code, make.stderr]).toEqual([100, "maildirmake: usage: maildirmake name\n"]);
  });
});

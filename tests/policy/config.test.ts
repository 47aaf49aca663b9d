/** The Qpopper-syntax config file, flags and environment: effects and every refusal path. */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PermError, UsageError } from "../../mod/base/errors.ts";
import { readConfigFile } from "../../mod/policy/config_file.ts";
import { policyEnv, resolvePolicy } from "../../mod/policy/resolve.ts";
import { applet, run, tempDir } from "../helpers.ts";

function file(text: string, name = "poppin.conf"): string {
  const path = join(tempDir("conf"), name);
  writeFileSync(path, text);
  return path;
}

function refusal(text: string): string {
  const path = file(text);
  try {
    readConfigFile(path);
  } catch (e) {
    expect(e).toBeInstanceOf(PermError);
    return (e as Error).message.replace(path, "FILE");
  }
  throw new Error("accepted");
}

describe("config file (Qpopper syntax)", () => {
  test("set = value, set boolean, reset boolean, comments, quotes, case of names", () => {
    const s = readConfigFile(file([
      "# a comment line",
      "",
      "set clear-text-password = TLS   # trailing comment",
      "set shy",
      "set statistics",
      "reset statistics",
      'set log-login = "%0 from %2 # not a comment"',
      "SET Timeout = 30",
      "set auto-delete = true",
      "set update-on-abort = off",
      "set auth-failure-delay = 0.25",
    ].join("\n")));
    expect(Object.fromEntries(s)).toEqual({
      "clear-text-password": "tls", shy: "1", statistics: "0", "log-login": "%0 from %2 # not a comment",
      timeout: "30", "auto-delete": "1", "update-on-abort": "0", "auth-failure-delay": "0.25",
    });
  });

  test("config-file chains to another file at that point; later lines win; loops and depth refused", () => {
    const dir = tempDir("chain");
    const second = join(dir, "second.conf");
    writeFileSync(second, "set timeout = 60\nset shy\n");
    const first = join(dir, "first.conf");
    writeFileSync(first, `set timeout = 10\nset config-file = ${second}\nreset shy\n`);
    expect(Object.fromEntries(readConfigFile(first))).toEqual({ timeout: "60", shy: "0" });
    const loop = join(dir, "loop.conf");
    writeFileSync(loop, `set config-file = ${loop}\n`);
    expect(() => readConfigFile(loop)).toThrow(/config-file loop/);
    const chain = Array.from({ length: 10 }, (_, i) => join(dir, `c${i}.conf`));
    chain.forEach((f, i) => writeFileSync(f, i + 1 < chain.length ? `set config-file = ${chain[i + 1]}\n` : "set shy\n"));
    expect(() => readConfigFile(chain[0]!)).toThrow(/config-file chain deeper than 8/);
  });

  test("a qpopper.config's options that are not file options here say what to do instead", () => {
    expect(refusal("# qpopper.config\nset tls-support = stls\n")).toBe(`FILE line 2: unknown option "tls-support": Qpopper's option; STLS is offered whenever a certificate is set (tls-server-cert-file), and implicit TLS (Qpopper's alternate-port) is serve --tls: remove the line`);
    expect(refusal("set spool-dir = /var/mail")).toBe(`FILE line 1: unknown option "spool-dir": Qpopper's option; give pop3d --spool-dir=DIR in the chain instead and remove the line`);
    expect(refusal("set fast-update")).toContain(`unknown option "fast-update": Qpopper's option; pop3d's --update=rename is Qpopper's fast-update`);
    expect(refusal("reset reverse-lookup")).toContain(`unknown option "reverse-lookup": Qpopper's option; serve decides host-name lookups`);
    expect(refusal("set bulldir = /var/spool/bulls")).toBe(`FILE line 1: unknown option "bulldir": Qpopper's option; it is called bulletins here (set bulletins = DIR): rename it`);
    expect(refusal("set uw-kludge")).toContain(`unknown option "uw-kludge": Qpopper's option; pop3d never lists UW IMAP's FOLDER INTERNAL DATA message`);
    for (const name of ["user-server-mode", "cache-dir", "group-bulletins", "old-style-uid", "mmdf-separator", "log-facility", "syslog-facility", "debug", "trace-file", "kerberos", "chunky-writes"]) {
      expect(refusal(`set ${name}`)).toMatch(new RegExp(`^FILE line 1: unknown option "${name}": Qpopper's option; .+remove the line$`));
    }
    // Through popup as the chain runs it: exit 111 with the same sentence, nothing served.
    const dir = tempDir("qpopper-conf");
    writeFileSync(join(dir, "qpopper.config"), "set server-mode = true\n");
    const r = run([applet("qmail-popup"), "-f", join(dir, "qpopper.config"), "h", "/bin/true"], { stdin: "" });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`line 1: unknown option "server-mode": Qpopper's option; pop3d always works in server mode`);
    // An option nobody knows keeps the plain words; an Object prototype name is no Qpopper option.
    expect(refusal("set constructor = 1")).toBe('FILE line 1: unknown option "constructor"');
  });

  test("errors name the file and the line", () => {
    expect(refusal("set shy\nset no-such-option = 1\n")).toBe('FILE line 2: unknown option "no-such-option"');
    expect(refusal("set timeout = soon")).toBe('FILE line 1: timeout wants a whole number from 1 to 999999999, not "soon"');
    expect(refusal("set timeout")).toBe("FILE line 1: timeout needs a value (set timeout = VALUE)");
    expect(refusal("reset timeout")).toBe("FILE line 1: reset: timeout is not a boolean option");
    expect(refusal("\n\nenable shy")).toBe('FILE line 3: expected set or reset, not "enable"');
    expect(refusal("set clear-text-password = sometimes")).toBe('FILE line 1: clear-text-password wants one of default, never, always, local, tls, not "sometimes"');
    expect(refusal('set log-login = "unterminated')).toBe("FILE line 1: unterminated quoted string");
    expect(refusal("set shy = maybe")).toBe('FILE line 1: shy wants true or false, not "maybe"');
    expect(refusal("set timeout = 1 2")).toBe("FILE line 1: timeout: one value expected (quote values with spaces)");
    expect(refusal("set announce-expire = soon")).toBe('FILE line 1: announce-expire wants a number of days or never, not "soon"');
    expect(() => readConfigFile("/nonexistent/poppin.conf")).toThrow("unable to read config file /nonexistent/poppin.conf: file does not exist");
  });
});

describe("flags, environment, file: later wins", () => {
  test("file < environment < flags; -f and POPPIN_CONFIG name the file; the rest is returned", () => {
    const conf = file("set timeout = 10\nset shy\nset clear-text-password = never\n");
    const r = resolvePolicy(["-f", conf, "--timeout=30", "--no-shy", "host", "prog"], { POPPIN_TIMEOUT: "20", POPPIN_CLEAR_TEXT_PASSWORD: "local" });
    expect(r.policy.timeoutMs).toBe(30_000);
    expect(r.policy.shy).toBe(false);
    expect(r.policy.clearText).toBe("local");
    expect(r.rest).toEqual(["host", "prog"]);
    expect(resolvePolicy([], { POPPIN_CONFIG: conf }).policy.clearText).toBe("never");
    expect(policyEnv(r.settings)).toMatchObject({ POPPIN_TIMEOUT: "30", POPPIN_SHY: "0", POPPIN_CLEAR_TEXT_PASSWORD: "local" });
  });

  test("CERTFILE and KEYFILE (ucspi-ssl's names); the key defaults to the certificate file", () => {
    expect(resolvePolicy([], { CERTFILE: "/c.pem" }).policy).toMatchObject({ certFile: "/c.pem", keyFile: "/c.pem" });
    expect(resolvePolicy([], { CERTFILE: "/c.pem", KEYFILE: "/k.pem" }).policy).toMatchObject({ certFile: "/c.pem", keyFile: "/k.pem" });
  });

  test("bad flags and environment values are usage errors naming them", () => {
    expect(() => resolvePolicy(["--bogus=1"], {})).toThrow(new UsageError("unknown option --bogus"));
    expect(() => resolvePolicy(["--timeout"], {})).toThrow("--timeout needs a value (--timeout=VALUE)");
    expect(() => resolvePolicy(["-f"], {})).toThrow("-f needs a file name");
    // Qpopper's flags from an inetd.conf line: refused, never taken for the host name.
    expect(() => resolvePolicy(["-s", "-T600", "pop.example.org", "checkpassword"], {})).toThrow(new UsageError("unknown option -s (Qpopper's -s is --statistics here): popup takes -f FILE and --NAME=VALUE options before the host name"));
    expect(() => resolvePolicy(["-T600", "h", "p"], {})).toThrow("unknown option -T600 (Qpopper's -T is --timeout=SECONDS here)");
    expect(() => resolvePolicy(["-Z", "h", "p"], {})).toThrow(new UsageError("unknown option -Z: popup takes -f FILE and --NAME=VALUE options before the host name"));
    expect(resolvePolicy(["--statistics", "--timeout=600", "h", "p"], {}).rest).toEqual(["h", "p"]);
    expect(() => resolvePolicy([], { POPPIN_MAILBOX_LOCK: "sometimes" })).toThrow('POPPIN_MAILBOX_LOCK: mailbox-lock wants one of session, none, not "sometimes"');
  });

  test("qmail-popup with a bad config file: temporary -ERR, the file and line on stderr, exit 111", () => {
    const conf = file("set shy\nset timeout = never\n");
    const r = run([applet("qmail-popup"), "-f", conf, "host", "/bin/true"], { stdin: "QUIT\r\n" });
    expect(r.code).toBe(111);
    expect(r.out).toBe("-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n");
    expect(r.stderr).toBe(`qmail-popup: fatal: ${conf} line 2: timeout wants a whole number from 1 to 999999999, not "never"\n`);
    const bad = run([applet("qmail-popup"), "--nonsense", "host", "/bin/true"], { stdin: "QUIT\r\n" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("qmail-popup: warning: unknown option --nonsense\nqmail-popup: usage:");
  });
});

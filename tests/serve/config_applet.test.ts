/**
 * `poppin config`: the effective configuration of a service with each value's origin
 * (default, config file and line, environment, command line), from a serve command line,
 * a popup command line or a service directory made by `poppin conf`; exit 111 and the
 * problem (file and line) when the configuration is broken.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, run, tempDir } from "../helpers.ts";

const chain = (popupArgs: string[], pop3dArgs = ["Maildir"]) =>
  [applet("qmail-popup"), ...popupArgs, "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), ...pop3dArgs];

/** The listing as a map key -> [value, origin]. */
function listing(out: string): Map<string, [string, string]> {
  const map = new Map<string, [string, string]>();
  for (const line of out.split("\n")) {
    const m = /^(\S+) = (.*?)\s+# (.*)$/.exec(line);
    if (m) map.set(m[1]!, [m[2]!, m[3]!]);
  }
  return map;
}

describe("poppin config", () => {
  test("a serve command line: each value with its origin (default, file line, environment, flag)", () => {
    const conf = join(tempDir("config"), "poppin.conf");
    writeFileSync(conf, "# site settings\nset timeout = 60\nset clear-text-password = always\nset shy\n");
    const r = run([POPPIN, "config", "tcpserver", "-v", "-c", "80", "-x", "tcp.cdb", "0", "110", ...chain(["-f", conf, "--timeout=90"], ["--compat=qmail", "Maildir"])], {
      env: { PATH: process.env.PATH, POPPIN_AUTH_FAILURE_DELAY: "5" },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const l = listing(r.out);
    expect(l.get("serve.listen")).toEqual(["0 110", "command line"]);
    expect(l.get("serve.concurrency")).toEqual(["80", "command line"]);
    expect(l.get("serve.rules")).toEqual(["tcp.cdb", "command line"]);
    expect(l.get("popup.config-file")).toEqual([conf, "flag -f"]);
    expect(l.get("popup.clear-text-password")).toEqual(["always", `${conf} line 3`]);
    expect(l.get("popup.shy")).toEqual(["1", `${conf} line 4`]);
    expect(l.get("popup.timeout")).toEqual(["90", "flag --timeout=90"]); // the flag wins over the file
    expect(l.get("popup.auth-failure-delay")).toEqual(["5", "environment POPPIN_AUTH_FAILURE_DELAY"]);
    expect(l.get("popup.mailbox-lock")).toEqual(["session", "default"]);
    expect(l.get("checkpassword.min-uid")).toEqual(["1000", "default"]);
    expect(l.get("pop3d.mailbox")).toEqual(["Maildir", "command line"]);
    expect(l.get("pop3d.compat")).toEqual(["qmail", "flag --compat=qmail"]);
  });

  test("-n: only what is not a default; a popup command line works too", () => {
    const r = run([POPPIN, "config", "-n", ...chain(["--shy"])], { env: { PATH: process.env.PATH, CERTFILE: "" } });
    expect(r.code).toBe(0);
    const l = listing(r.out);
    expect(l.get("popup.shy")).toEqual(["1", "flag --shy=1"]);
    expect(l.has("popup.timeout")).toBe(false);
    expect(l.has("serve.listen")).toBe(false);
  });

  test("errors: exit 111 with the file and line (and the other problems), the listing still printed", () => {
    const conf = join(tempDir("config"), "broken.conf");
    writeFileSync(conf, "set timeout = 60\nset clear-text-pasword = always\n");
    const r = run([POPPIN, "config", "0", "110", ...chain(["-f", conf], [])], { env: { PATH: process.env.PATH, POPPIN_USERDB: "/nonexistent/users.cdb" } });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`poppin config: fatal: qmail-popup: ${conf} line 2: unknown option "clear-text-pasword"\n`);
    expect(r.stderr).toContain("poppin config: fatal: checkpassword: unable to read user database /nonexistent/users.cdb");
    expect(r.stderr).toContain("poppin config: fatal: qmail-pop3d: exactly one Maildir");
    expect(listing(r.out).get("serve.listen")).toEqual(["0 110", "command line"]);
  });

  test("a service directory made by poppin conf: its run script and env/ (envdir) as supervise gives them", () => {
    const work = tempDir("config-svc");
    chmodSync(work, 0o755);
    const dir = join(work, "pop3d");
    expect(run([POPPIN, "conf", "pop3d", applet("checkpassword"), "nobody", dir]).code).toBe(0);
    writeFileSync(join(dir, "env", "POPPIN_TIMEOUT"), "30\n");
    const r = run([POPPIN, "config", dir], { env: { PATH: process.env.PATH, POPPIN_TIMEOUT: "999" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const l = listing(r.out);
    writeFileSync(join(dir, "env", "CONCURRENCY"), "80\n");
    const r2 = run([POPPIN, "config", dir], { env: { PATH: process.env.PATH } });
    const l2 = listing(r2.out);
    expect(l2.get("serve.listen")).toEqual(["0 110", `${dir}/env/IP, ${dir}/env/PORT`]);
    expect(l2.get("serve.concurrency")).toEqual(["80", `${dir}/env/CONCURRENCY`]);
    expect(l2.get("popup.hostname")?.[1]).toBe(`${dir}/env/POPUPHOST`);
    expect(l.get("serve.listen")?.[0]).toBe("0 110");
    expect(l.get("serve.rules")?.[0]).toBe("tcp.cdb");
    expect(l.get("popup.timeout")).toEqual(["30", `${dir}/env/POPPIN_TIMEOUT`]); // env/, not the caller's
    expect(l.get("pop3d.mailbox")?.[0]).toBe("Maildir");
    writeFileSync(join(dir, "env", "POPPIN_USERDB"), "/nonexistent/users\n");
    const bad = run([POPPIN, "config", dir], { env: { PATH: process.env.PATH } });
    expect(bad.code).toBe(111);
    expect(bad.stderr).toContain("unable to read user database /nonexistent/users");
    expect(listing(bad.out).get("checkpassword.accounts")).toEqual(["virtual: /nonexistent/users", `${dir}/env/POPPIN_USERDB`]);
  });

  test("a systemd service directory: ExecStart of its unit, the socket from systemd", () => {
    const work = tempDir("config-sd");
    chmodSync(work, 0o755);
    const dir = join(work, "pop3d");
    expect(run([POPPIN, "conf", "--systemd", "pop3d", applet("checkpassword"), "nobody", dir]).code).toBe(0);
    const r = run([POPPIN, "config", dir], { env: { PATH: process.env.PATH } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const l = listing(r.out);
    expect(l.get("serve.listen")).toEqual(["systemd socket (LISTEN_FDS)", "command line"]);
    expect(l.get("serve.rules")?.[0]).toBe(`${dir}/tcp.cdb`);
    expect(l.get("pop3d.mailbox")?.[0]).toBe("Maildir");
  });

  test("a service directory that does not exist (a typo) is named, exit 100 (a wrong argument)", () => {
    const missing = join(tempDir("config"), "pop3d");
    const r = run([POPPIN, "config", missing]);
    expect(r.stderr).toBe(`poppin config: fatal: unable to read service directory ${missing}: file does not exist\n`);
    expect(r.code).toBe(100);
    expect(r.out).toBe("");
    const file = join(tempDir("config"), "run");
    writeFileSync(file, "#!/bin/sh\n");
    expect(run([POPPIN, "config", "-n", file]).stderr).toBe(`poppin config: fatal: unable to read service directory ${file}: not a directory\n`);
  });

  test("not a command line: exit 100 (usage) with the reason", () => {
    const r = run([POPPIN, "config", "-z", "0", "110", "x"]);
    expect(r.code).toBe(100);
    expect(r.stderr).toStartWith("poppin config: usage: poppin config [-n] DIR\n");
    expect(r.stderr).toContain("poppin config: not a serve command line: illegal option -- z\n");
  });
});

/**
 * pop3d never runs as root, nor as a system account: checkpassword (and popup serving the
 * chain) refuses uid 0 (a virtual user mapped to 0, a second uid-0 system account) and
 * system uids below POPPIN_MIN_UID, with the right password, before PROG runs. A probe
 * PROG records whether it ever ran.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { applet, run, tempDir } from "../helpers.ts";

const created: string[] = [];
afterAll(() => {
  for (const name of created) Bun.spawnSync(["userdel", "-f", name]);
});

const dir = tempDir("priv");
chmodSync(dir, 0o755);
mkdirSync(join(dir, "probe"), { mode: 0o777 });
chmodSync(join(dir, "probe"), 0o777);
const probe = join(dir, "probe", "ran");

/** checkpassword with `login\0password\0` on fd 3 and a PROG that leaves a mark if it runs. */
function checkpassword(login: string, password: string, env: Record<string, string> = {}): number {
  const data = join(dir, "fd3");
  Bun.write(data, `${login}\0${password}\0`);
  const r = Bun.spawnSync(["sh", "-c", `"$C" sh -c 'id -u > "$P"' 3< "$F"`], {
    env: { C: applet("checkpassword"), P: probe, F: data, PATH: "/usr/bin:/bin:/usr/sbin:/sbin", ...env },
    timeout: 20_000,
  });
  return r.exitCode ?? -1;
}

function systemUser(name: string, password: string, extra: string[]): void {
  const add = run(["useradd", "-M", "-s", "/bin/sh", ...extra, name]);
  if (add.code !== 0) throw new Error(`useradd: ${add.stderr}`);
  created.push(name);
  const pw = run(["chpasswd"], { stdin: `${name}:${password}\n` });
  if (pw.code !== 0) throw new Error(`chpasswd: ${pw.stderr}`);
}

describe("privilege", () => {
  test("a virtual user mapped to uid 0 is refused (exit 1), PROG never runs; uid 5000 runs", () => {
    const home = join(dir, "home");
    mkdirSync(home, { recursive: true });
    const users = join(dir, "users");
    const password = randomBytes(9).toString("base64");
    expect(run([applet("users"), "-f", users, "add", "--sha512", "rooty", "0", "0", home], { stdin: `${password}\n` }).code).toBe(0);
    expect(run([applet("users"), "-f", users, "add", "--sha512", "plain", "5000", "5000", home], { stdin: `${password}\n` }).code).toBe(0);
    expect(checkpassword("rooty", password, { POPPIN_USERDB: `${users}.cdb` })).toBe(1);
    expect(existsSync(probe)).toBe(false);
    // The control: the same database lets uid 5000 in, and PROG runs as 5000.
    expect(checkpassword("plain", password, { POPPIN_USERDB: `${users}.cdb` })).toBe(0);
    expect(Bun.spawnSync(["cat", probe]).stdout.toString().trim()).toBe("5000");
    Bun.spawnSync(["rm", "-f", probe]);
  });

  test("a second uid-0 system account and a system account (uid < 1000): refused with the right password", () => {
    const suffix = randomBytes(3).toString("hex");
    const password = `P-${randomBytes(9).toString("hex")}`;
    systemUser(`pfzroot${suffix}`, password, ["-o", "-u", "0", "-g", "0"]);
    systemUser(`pfzsys${suffix}`, password, ["--system"]);
    expect(checkpassword(`pfzroot${suffix}`, password)).toBe(1);
    expect(checkpassword(`pfzsys${suffix}`, password)).toBe(1);
    expect(existsSync(probe)).toBe(false);
    // Through popup (the chain a client reaches): PASS is answered -ERR, and no pop3d greeting follows.
    const r = run([applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"], {
      stdin: `USER pfzroot${suffix}\r\nPASS ${password}\r\nUSER pfzsys${suffix}\r\nPASS ${password}\r\nQUIT\r\n`,
      cwd: dir, timeoutMs: 30_000,
    });
    const lines = r.out.split("\r\n");
    expect(lines.filter((l) => l.startsWith("-ERR")).length).toBe(2);
    expect(lines.at(-2)).toBe("+OK ");
    expect(r.stderr).not.toContain(password);
  }, 60_000);
});

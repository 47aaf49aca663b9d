/**
 * conf's IP argument: a systemd socket unit listens on an address only (a host name or a bad
 * quad in ListenStream= left a unit systemd refuses), and a dotted quad out of range is a typo
 * for either layout; both refused with the reason, exit 100, nothing made. Addresses, 0 and
 * (for svscan, as tcpserver resolves them) host names are taken.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, run, tempDir } from "../helpers.ts";

test("bad IP arguments refused before anything is made; good ones written where serve and systemd read them", () => {
  const base = tempDir("conf-ip");
  const conf = (dir: string, ip: string, systemd: boolean) =>
    run([POPPIN, "conf", ...(systemd ? ["--systemd"] : []), "pop3d", applet("checkpassword"), "nobody", join(base, dir), ip]);
  for (const [ip, systemd, why] of [
    ["300.1.1.1", false, "bad IP address 300.1.1.1"],
    ["300.1.1.1", true, "--systemd needs an IP address (ListenStream=), not 300.1.1.1"],
    ["mail.example.org", true, "--systemd needs an IP address (ListenStream=), not mail.example.org"],
    ["a b", false, "bad IP address a b"],
  ] as const) {
    const r = conf("refused", ip, systemd);
    expect(r.code).toBe(100);
    expect(r.stderr.split("\n")[0]).toBe(`poppin conf: ${why}`);
    expect(existsSync(join(base, "refused"))).toBe(false);
  }
  expect(conf("v6", "::1", true).code).toBe(0);
  expect(readFileSync(join(base, "v6", "v6.socket"), "utf8")).toContain("ListenStream=[::1]:110\n");
  expect(conf("named", "mail.example.org", false).code).toBe(0);
  expect(readFileSync(join(base, "named", "env", "IP"), "utf8")).toBe("mail.example.org\n");
});

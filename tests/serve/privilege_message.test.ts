/**
 * serve -u/-g started by an account that is not root: tcpserver's words ("unable to set gid:
 * permission denied", exit 111), then the cause a newcomer needs (serve must start as root),
 * under both names and for --inline; and a port below 1024. Runs a copy of the binary as nobody.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";

describe("serve -u/-g without root", () => {
  test("names the cause after tcpserver's words; exit 111", () => {
    if (process.getuid!() !== 0) throw new Error("this test runs serve as nobody: run it as root (CI does)");
    const dir = tempDir("privmsg");
    chmodSync(dir, 0o755);
    const binary = join(dir, "poppin");
    copyFileSync(POPPIN, binary);
    chmodSync(binary, 0o755);
    for (const name of ["tcpserver", "qmail-popup", "checkpassword", "qmail-pop3d"]) symlinkSync(binary, join(dir, name));
    const asNobody = (argv: string[]) => run([requireTool("setuidgid"), "nobody", ...argv], { env: { PATH: "/usr/bin:/bin" }, cwd: dir });
    const hint = "(-g and -u need serve started as root; it runs as uid 65534)";
    const gid = asNobody([binary, "serve", "-u", "1", "-g", "1", "127.0.0.1", "0", "true"]);
    expect(gid.stderr).toBe(`poppin serve: fatal: unable to set gid: permission denied ${hint}\n`);
    expect(gid.code).toBe(111);
    const uid = asNobody([join(dir, "tcpserver"), "-u", "1", "127.0.0.1", "0", "true"]);
    expect(uid.stderr).toBe(`tcpserver: fatal: unable to set uid: permission denied ${hint}\n`);
    expect(uid.code).toBe(111);
    const inline = asNobody([binary, "serve", "--inline", "-u", "1", "-g", "1", "127.0.0.1", "0",
      join(dir, "qmail-popup"), "h", join(dir, "checkpassword"), join(dir, "qmail-pop3d"), "Maildir"]);
    expect(inline.stderr).toBe(`poppin serve: fatal: unable to set gid: permission denied ${hint}\n`);
    expect(inline.code).toBe(111);
    // A privileged port without root: tcpserver's "access denied", then why. Containers may
    // open every port to everyone (ip_unprivileged_port_start 0): then there is no such port.
    const firstOpen = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8"));
    const low = Math.min(firstOpen, 1024) - 1;
    if (low >= 1) {
      for (const argv of [[binary, "serve", "127.0.0.1", String(low), "true"], [join(dir, "tcpserver"), "127.0.0.1", String(low), "true"]]) {
        const r = asNobody(argv);
        expect(r.stderr).toEndWith(`fatal: unable to bind: access denied (port ${low} is below 1024: start serve as root; -u and -g drop root after binding)\n`);
        expect(r.code).toBe(111);
      }
    } else expect(firstOpen).toBe(0);
  }, 30_000);
});

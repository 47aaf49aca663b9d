/**
 * `poppin install` on a Debian system: the modes a sysadmin's umask cannot take away (root's
 * umask 077 must not leave a 0700 binary the log account cannot run), and files that belong
 * to a Debian package (ucspi-tcp's tcpserver, daemontools' multilog) refused even with --force,
 * naming the package, unless dpkg-divert moved them aside.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { fakeDpkg } from "./fake_dpkg.ts";
import { install } from "../../mod/cli/install.ts";
import { dpkgOwners } from "../../mod/cli/dpkg_owner.ts";

describe("poppin install on Debian", () => {
  test("under umask 077 the binary, bin/, the man directories and pages still get 0755/0644", () => {
    const build = tempDir("build");
    copyFileSync(POPPIN, join(build, "poppin"));
    mkdirSync(join(build, "man"));
    writeFileSync(join(build, "man", "poppin-serve.8"), ".TH POPPIN-SERVE 8\n");
    const prefix = join(tempDir("prefix"), "opt", "poppin");
    const r = run(["sh", "-c", `umask 077 && exec "$0" install --prefix "$1"`, join(build, "poppin"), prefix]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const mode = (p: string) => statSync(p).mode & 0o7777;
    expect(mode(join(prefix, "bin", "poppin"))).toBe(0o755);
    for (const dir of [join(prefix, ".."), prefix, join(prefix, "bin"), join(prefix, "share"), join(prefix, "share", "man"), join(prefix, "share", "man", "man8")]) {
      expect([dir, mode(dir)]).toEqual([dir, 0o755]);
    }
    expect(mode(join(prefix, "share", "man", "man8", "poppin-serve.8"))).toBe(0o644);
  });

  test("dpkg's database names the owner of Debian's tcpserver and multilog (as dpkg -S does)", () => {
    requireTool("tcpserver");
    requireTool("multilog");
    const owners = dpkgOwners(["/usr/bin/tcpserver", "/usr/bin/multilog", "/bin/tcpserver", join(tempDir("x"), "tcpserver")]);
    expect(owners.get("/usr/bin/tcpserver")).toBe(run(["dpkg-query", "-S", "/usr/bin/tcpserver"]).out.split(":")[0]);
    expect(owners.get("/usr/bin/tcpserver")).toBe("ucspi-tcp");
    expect(owners.get("/usr/bin/multilog")).toBe("daemontools");
    expect(owners.get("/bin/tcpserver")).toBe("ucspi-tcp"); // merged /usr: the same file
    expect(owners.size).toBe(3);
  });

  /** A prefix whose bin/tcpserver dpkg lists as ucspi-tcp's, in a dpkg database of its own. */
  function packagedPrefix(): { prefix: string; admin: string; tcpserver: string } {
    const prefix = tempDir("prefix");
    mkdirSync(join(prefix, "bin"));
    const tcpserver = join(prefix, "bin", "tcpserver");
    writeFileSync(tcpserver, "#!/bin/sh\necho ucspi-tcp\n", { mode: 0o755 });
    const admin = fakeDpkg({ "ucspi-tcp": [prefix, `${prefix}/bin`, tcpserver], other: ["/usr/bin/other"] });
    return { prefix, admin, tcpserver };
  }

  const plan = (prefix: string, admin: string, force: boolean) => ({
    binary: POPPIN, prefix, names: ["tcpserver", "tcprules"], force, dpkgAdminDir: admin,
  });

  test("a Debian package's file is refused even with --force, naming the package, and nothing changes", () => {
    const { prefix, admin, tcpserver } = packagedPrefix();
    for (const force of [false, true]) {
      expect(() => install(plan(prefix, admin, force))).toThrow(
        `refusing to replace ${tcpserver} (package ucspi-tcp): a Debian package's file, which its next upgrade would put back; ` +
        `install under /usr/local (the default, ahead of /usr/bin in PATH), or move the package's file aside first: dpkg-divert --local --rename --add ${tcpserver}`);
      expect(readFileSync(tcpserver, "utf8")).toContain("ucspi-tcp");
      expect(existsSync(join(prefix, "bin", "poppin"))).toBe(false);
      expect(existsSync(join(prefix, "bin", "tcprules"))).toBe(false);
    }
  });

  test("once dpkg-divert --local moved it aside, --force takes the name; a package's diversion does not free it", () => {
    const { prefix, admin, tcpserver } = packagedPrefix();
    writeFileSync(join(admin, "diversions"), `${tcpserver}\n${tcpserver}.distrib\nother\n`);
    expect(() => install(plan(prefix, admin, true))).toThrow(`refusing to replace ${tcpserver} (package other): `);
    writeFileSync(join(admin, "diversions"), `${tcpserver}\n${tcpserver}.distrib\n:\n`);
    expect(() => install(plan(prefix, admin, false))).toThrow("(use --force)");
    const report = install(plan(prefix, admin, true));
    expect(report.links.replaced).toEqual(["tcpserver"]);
    expect(readlinkSync(tcpserver)).toBe("poppin");
    expect(lstatSync(join(prefix, "bin", "poppin")).isFile()).toBe(true);
  });

  test("PREFIX/bin/poppin of the Debian package is not replaced by install (dpkg -i upgrades it)", () => {
    const prefix = tempDir("prefix");
    mkdirSync(join(prefix, "bin"));
    writeFileSync(join(prefix, "bin", "poppin"), "packaged poppin");
    const admin = fakeDpkg({ poppin: [`${prefix}/bin/poppin`] });
    expect(() => install({ binary: POPPIN, prefix, names: ["tcpserver"], force: true, dpkgAdminDir: admin }))
      .toThrow(`refusing to replace ${prefix}/bin/poppin: it belongs to the Debian package poppin (upgrade that with dpkg -i, or install under /usr/local)`);
    expect(readFileSync(join(prefix, "bin", "poppin"), "utf8")).toBe("packaged poppin");
  });

  test("a copy an install killed halfway left (a whole binary) is removed by the next install; a running install's is not", () => {
    const prefix = tempDir("prefix");
    mkdirSync(join(prefix, "bin"));
    const dead = join(prefix, "bin", ".poppin.poppin-install.999999999");
    const alive = join(prefix, "bin", `.poppin.poppin-install.${process.pid}`);
    writeFileSync(dead, "half a binary");
    writeFileSync(alive, "another install, still running");
    const r = run([POPPIN, "install", "--prefix", prefix]);
    expect(r.code).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(readFileSync(alive, "utf8")).toBe("another install, still running");
  });
});

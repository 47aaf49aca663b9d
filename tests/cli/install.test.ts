/**
 * `poppin install [--prefix PREFIX]`: the binary is copied (the build directory can go), the
 * classic names are linked beside it and nothing else, foreign files are refused without --force,
 * man pages go to PREFIX/share/man.
 */
import { describe, expect, test } from "bun:test";
import {
  chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync,
  statSync, symlinkSync, writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { ALIASES } from "../../mod/cli/applet_table.ts";

const CLASSIC = ALIASES.filter((a) => a.classic).map((a) => a.name);

/** A throw-away "build directory": a copy of dist/poppin with a man/ beside it. */
function fakeBuild(): string {
  const build = tempDir("build");
  copyFileSync(POPPIN, join(build, "poppin"));
  mkdirSync(join(build, "man"));
  writeFileSync(join(build, "man", "poppin-serve.8"), ".TH POPPIN-SERVE 8\n.SH NAME\npoppin-serve \\- test page\n");
  writeFileSync(join(build, "man", "poppin.conf.5"), ".TH POPPIN.CONF 5\n.SH NAME\npoppin.conf \\- test page\n");
  return build;
}

describe("poppin install", () => {
  test("copies the binary, links only the classic names, installs man pages; works after the build dir is gone", () => {
    const build = fakeBuild();
    const prefix = join(tempDir("prefix"), "made", "by", "install");
    const r = run([join(build, "poppin"), "install", "--prefix", prefix]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`installed ${prefix}/bin/poppin`);
    const bin = join(prefix, "bin");
    expect(lstatSync(join(bin, "poppin")).isFile()).toBe(true);
    expect(statSync(join(bin, "poppin")).mode & 0o777).toBe(0o755);
    for (const name of CLASSIC) expect(readlinkSync(join(bin, name))).toBe("poppin");
    for (const name of ["tcpserver", "qmail-popup", "checkpassword", "qmail-pop3d", "multilog", "tcprules", "maildirmake", "qmail-qmqpd", "cdbmake"]) {
      expect(CLASSIC).toContain(name);
    }
    for (const generic of ["users", "convert", "deliver", "conf", "doctor", "serve", "popup", "install"]) {
      expect(existsSync(join(bin, generic))).toBe(false);
    }
    expect(readFileSync(join(prefix, "share", "man", "man8", "poppin-serve.8"), "utf8")).toContain("poppin-serve");
    expect(existsSync(join(prefix, "share", "man", "man5", "poppin.conf.5"))).toBe(true);

    // The clone goes away; the installed names keep working.
    rmSync(build, { recursive: true, force: true });
    const home = tempDir("home");
    const made = run([join(bin, "maildirmake"), join(home, "Maildir")]);
    expect(made.code).toBe(0);
    expect(existsSync(join(home, "Maildir", "new"))).toBe(true);
    const rules = run([join(bin, "tcprules"), join(home, "r.cdb"), join(home, "r.tmp")], { stdin: "127.0.0.1:allow\n:deny\n" });
    expect(rules.code).toBe(0);
    const check = run([join(bin, "tcprulescheck"), join(home, "r.cdb")], { env: { TCPREMOTEIP: "127.0.0.1" } });
    expect(check.out).toContain("allow");
    const version = run([join(bin, "poppin"), "--version"]);
    expect(version.out).toMatch(/^poppin \d/);
    const usage = run([join(bin, "qmail-popup")]);
    expect(usage.out).toContain("usage");
  });

  test("again: idempotent; a newer binary replaces the old one atomically; links of an older install are taken over", () => {
    const build = fakeBuild();
    const prefix = tempDir("prefix");
    expect(run([join(build, "poppin"), "install", "--prefix", prefix]).code).toBe(0);
    const again = run([join(build, "poppin"), "install", "--prefix", prefix]);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`0 created, 0 replaced, ${CLASSIC.length} already in place`);
    // An older install: a different poppin file, and a link into a clone that no longer exists.
    writeFileSync(join(prefix, "bin", "poppin"), "old poppin");
    rmSync(join(prefix, "bin", "tcpserver"));
    symlinkSync("/nonexistent/clone/dist/poppin", join(prefix, "bin", "tcpserver"));
    // An older install also linked generic names (users, convert); someone else's convert stays.
    symlinkSync("/nonexistent/clone/dist/poppin", join(prefix, "bin", "users"));
    writeFileSync(join(prefix, "bin", "convert"), "#!/bin/sh\necho imagemagick\n");
    const upgrade = run([join(build, "poppin"), "install", "--prefix", prefix]);
    expect(upgrade.code).toBe(0);
    expect(upgrade.out).toContain(`replaced ${prefix}/bin/poppin`);
    expect(readFileSync(join(prefix, "bin", "poppin")).equals(readFileSync(POPPIN))).toBe(true);
    expect(readlinkSync(join(prefix, "bin", "tcpserver"))).toBe("poppin");
    expect(upgrade.out).toContain(`removed ${prefix}/bin/users (an older install's link; use poppin users)`);
    expect(existsSync(join(prefix, "bin", "users"))).toBe(false);
    expect(readFileSync(join(prefix, "bin", "convert"), "utf8")).toContain("imagemagick");
    // No temporary file left beside them.
    expect(run(["sh", "-c", `ls -a ${prefix}/bin | grep poppin-install || true`]).out).toBe("");
    // The installed binary installs itself again (it is its own source).
    const self = run([join(prefix, "bin", "poppin"), "install", "--prefix", prefix]);
    expect(self.code).toBe(0);
    expect(readFileSync(join(prefix, "bin", "poppin")).equals(readFileSync(POPPIN))).toBe(true);
  });

  test("a newer binary built without man pages: an earlier install's pages are left and said so", () => {
    const prefix = tempDir("prefix");
    expect(run([join(fakeBuild(), "poppin"), "install", "--prefix", prefix]).code).toBe(0);
    const bare = tempDir("bare-build");
    copyFileSync(POPPIN, join(bare, "poppin"));
    const fresh = run([join(bare, "poppin"), "install", "--prefix", join(tempDir("prefix"), "p")]);
    expect(fresh.out).toContain("no man pages found beside the binary (npm run man makes them)\n");
    writeFileSync(join(prefix, "share", "man", "man8", "poppin.8"), ".TH POPPIN 8\n");
    const again = run([join(bare, "poppin"), "install", "--prefix", prefix]);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`no man pages beside the binary: those in ${prefix}/share/man left as they are (npm run man makes new ones)\n`);
    expect(existsSync(join(prefix, "share", "man", "man8", "poppin-serve.8"))).toBe(true);
  });

  test("refuses to replace a foreign file without --force (changing nothing), then replaces it and says so", () => {
    const build = fakeBuild();
    const prefix = tempDir("prefix");
    mkdirSync(join(prefix, "bin"));
    writeFileSync(join(prefix, "bin", "tcpserver"), "#!/bin/sh\necho original\n");
    symlinkSync("/usr/bin/env", join(prefix, "bin", "envdir"));
    const refused = run([join(build, "poppin"), "install", "--prefix", prefix]);
    expect(refused.code).toBe(100);
    expect(refused.stderr).toContain(`refusing to replace ${prefix}/bin/tcpserver, ${prefix}/bin/envdir`);
    expect(readFileSync(join(prefix, "bin", "tcpserver"), "utf8")).toContain("original");
    expect(existsSync(join(prefix, "bin", "poppin"))).toBe(false);
    expect(existsSync(join(prefix, "bin", "tcprules"))).toBe(false);
    const forced = run([join(build, "poppin"), "install", "--prefix", prefix, "--force"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toContain(`replaced ${prefix}/bin/tcpserver`);
    expect(forced.out).toContain(`replaced ${prefix}/bin/envdir`);
    expect(readlinkSync(join(prefix, "bin", "tcpserver"))).toBe("poppin");
  });

  test("the install applet does not import the applet table (no import cycle)", () => {
    const source = readFileSync(join(import.meta.dir, "..", "..", "mod", "applets", "install.ts"), "utf8");
    expect(source).not.toContain("applet_table");
  });

  test("a prefix that is a file is a clear error; a bad option a usage error", () => {
    const file = join(tempDir("prefix"), "file");
    writeFileSync(file, "x");
    const r = run([POPPIN, "install", "--prefix", file]);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`unable to install into ${file}: not a directory`);
    const bad = run([POPPIN, "install", "--frob"]);
    expect(bad.stderr).toStartWith("poppin install: usage: ");
  });

  test("conf run from the installed binary writes scripts that name the installed binary", () => {
    const build = fakeBuild();
    const prefix = tempDir("prefix");
    chmodSync(prefix, 0o755); // as /usr/local: the log account and the mail users run the binary
    expect(run([join(build, "poppin"), "install", "--prefix", prefix]).code).toBe(0);
    const moved = `${build}.gone`;
    renameSync(build, moved);
    const dir = join(tempDir("svc"), "pop3d");
    const me = run(["id", "-un"]).out.trim();
    const conf = run([join(prefix, "bin", "qmail-pop3d-conf"), join(prefix, "bin", "checkpassword"), me, dir]);
    expect(conf.stderr).toBe("");
    const runScript = readFileSync(join(dir, "run"), "utf8");
    expect(runScript).toContain(join(prefix, "bin", "poppin"));
    expect(runScript).not.toContain(moved);
    rmSync(moved, { recursive: true, force: true });
  });
});

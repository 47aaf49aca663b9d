/**
 * `poppin install --uninstall`: takes away the links to poppin, the binary and the poppin man
 * pages under PREFIX, and nothing else; refuses while a service still runs the binary (unless
 * --force) and when the binary is a Debian package's.
 */
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { fakeDpkg } from "./fake_dpkg.ts";
import { ALIASES } from "../../mod/cli/applet_table.ts";
import { uninstall } from "../../mod/cli/uninstall.ts";
import { freePort, Pop3Client } from "../conf/pop3_client.ts";

const CLASSIC = ALIASES.filter((a) => a.classic).map((a) => a.name);

function installed(): string {
  const build = tempDir("build");
  copyFileSync(POPPIN, join(build, "poppin"));
  mkdirSync(join(build, "man"));
  writeFileSync(join(build, "man", "poppin-serve.8"), ".TH POPPIN-SERVE 8\n");
  writeFileSync(join(build, "man", "poppin.conf.5"), ".TH POPPIN.CONF 5\n");
  const prefix = tempDir("prefix");
  mkdirSync(join(prefix, "bin"));
  writeFileSync(join(prefix, "bin", "convert"), "#!/bin/sh\necho imagemagick\n", { mode: 0o755 });
  mkdirSync(join(prefix, "share", "man", "man8"), { recursive: true });
  writeFileSync(join(prefix, "share", "man", "man8", "other.8"), ".TH OTHER 8\n");
  expect(run([join(build, "poppin"), "install", "--prefix", prefix]).code).toBe(0);
  rmSync(build, { recursive: true, force: true });
  return prefix;
}

describe("poppin install --uninstall", () => {
  test("removes the links, the binary and the man pages, says each, leaves other programs' files; again: nothing to do", () => {
    const prefix = installed();
    // A name someone else took after the install: not a link to poppin, so it stays.
    rmSync(join(prefix, "bin", "cdbget"));
    writeFileSync(join(prefix, "bin", "cdbget"), "#!/bin/sh\necho freecdb\n");
    const r = run([join(prefix, "bin", "poppin"), "install", "--prefix", prefix, "--uninstall"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines).toContain(`removed ${prefix}/bin/tcpserver`);
    expect(lines).toContain(`removed ${prefix}/bin/poppin`);
    expect(lines).toContain(`removed ${prefix}/share/man/man8/poppin-serve.8`);
    expect(lines).toContain(`removed ${prefix}/share/man/man5/poppin.conf.5`);
    expect(lines.at(-1)).toBe(`${CLASSIC.length - 1 + 1 + 2} removed from ${prefix}`);
    expect(readdirSync(join(prefix, "bin")).sort()).toEqual(["cdbget", "convert"]);
    expect(readFileSync(join(prefix, "bin", "cdbget"), "utf8")).toContain("freecdb");
    expect(readdirSync(join(prefix, "share", "man", "man8"))).toEqual(["other.8"]);
    const again = run([POPPIN, "install", "--uninstall", "--prefix", prefix]);
    expect(again.code).toBe(0);
    expect(again.out).toBe(`nothing of poppin's in ${prefix}\n`);
  });

  test("a binary a service still runs is refused (exit 100, nothing removed); --force removes it and the session goes on", async () => {
    const prefix = installed();
    const port = await freePort();
    const serve = spawn(join(prefix, "bin", "tcpserver"), ["-v", "127.0.0.1", String(port), join(prefix, "bin", "qmail-popup"), "mail.example",
      join(prefix, "bin", "checkpassword"), join(prefix, "bin", "qmail-pop3d"), "Maildir"], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    serve.stderr!.on("data", (d: Buffer) => { log += d.toString(); });
    try {
      const deadline = Date.now() + 10_000;
      while (!log.includes("status: 0/") && Date.now() < deadline) await Bun.sleep(50);
      const client = await Pop3Client.open(port);
      expect(await client.line()).toStartWith("+OK ");
      const refused = run([POPPIN, "install", "--uninstall", "--prefix", prefix]);
      expect(refused.code).toBe(100);
      expect(refused.stderr).toStartWith(`poppin install: fatal: refusing to remove ${prefix}/bin/poppin: `);
      expect(refused.stderr).toContain(`pid ${serve.pid} (${prefix}/bin/tcpserver -v 127.0.0.1 ${port} `);
      expect(refused.stderr).toContain("stop the services that use it first (svc -d DIR, systemctl stop NAME), or --force\n");
      expect(existsSync(join(prefix, "bin", "poppin"))).toBe(true);
      expect(existsSync(join(prefix, "bin", "tcpserver"))).toBe(true);
      const forced = run([POPPIN, "install", "--uninstall", "--force", "--prefix", prefix]);
      expect(forced.code).toBe(0);
      expect(existsSync(join(prefix, "bin", "poppin"))).toBe(false);
      // The running session has its own copy of the program: it goes on.
      expect(await client.command("QUIT")).toStartWith("+OK");
      client.close();
    } finally {
      serve.kill("SIGKILL");
    }
  });

  test("bin/poppin of the Debian package is refused (dpkg -r removes it)", () => {
    const prefix = tempDir("prefix");
    mkdirSync(join(prefix, "bin"));
    writeFileSync(join(prefix, "bin", "poppin"), "packaged");
    const admin = fakeDpkg({ poppin: [`${prefix}/bin/poppin`] });
    expect(() => uninstall({ prefix, names: CLASSIC, force: true, dpkgAdminDir: admin }))
      .toThrow(`refusing to remove ${prefix}/bin/poppin: it belongs to the Debian package poppin (remove that with dpkg -r poppin)`);
    expect(readFileSync(join(prefix, "bin", "poppin"), "utf8")).toBe("packaged");
  });
});

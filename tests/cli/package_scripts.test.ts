/**
 * What `npm run package` makes, as a Debian sysadmin checks it: built under root's umask 077
 * it still has 0755 directories (dpkg-deb refused a 0700 DEBIAN/), and its maintainer scripts
 * handle the systemd units as dh_installsystemd's do: an upgrade restarts a running serve on
 * the new binary, remove stops the socket and service (nothing left listening on 110 for a
 * binary that is gone), purge removes the links systemctl enable made.
 */
import { expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";

const ROOT = join(import.meta.dir, "..", "..");

test("the .deb built under umask 077: 0755 directories, and maintainer scripts that stop, restart and forget the units", () => {
  requireTool("dpkg-deb");
  const out = tempDir("deb-umask");
  const build = run(["sh", "-c", `umask 077 && exec "$0" -e "$1"`, process.execPath,
    `import { buildPackage, debianArch } from "${ROOT}/scripts/package.ts"; console.log(buildPackage({ binary: "${POPPIN}", outDir: "${out}", version: "0.1.0", arch: debianArch() }));`],
  { timeoutMs: 60_000 });
  expect(build.stderr).toBe("");
  expect(build.code).toBe(0);
  const deb = build.out.trim();
  const listing = run(["dpkg-deb", "-c", deb]).out.split("\n").filter(Boolean);
  for (const line of listing) {
    const [mode, owner] = line.split(/\s+/);
    expect([line, owner]).toEqual([line, "root/root"]);
    if (mode!.startsWith("d")) expect([line, mode]).toEqual([line, "drwxr-xr-x"]);
    else expect([line, /^-rw[x-]r-[x-]r-[x-]$/.test(mode!)]).toEqual([line, true]);
  }
  expect(listing.some((l) => l.startsWith("-rwxr-xr-x") && l.endsWith("./usr/bin/poppin"))).toBe(true);

  const control = join(out, "control");
  expect(run(["dpkg-deb", "-e", deb, control]).code).toBe(0);
  // A root where systemd runs, and stand-ins for systemctl and deb-systemd-invoke that record their calls.
  const root = tempDir("dpkg-root");
  mkdirSync(join(root, "run", "systemd", "system"), { recursive: true });
  const wants = join(root, "etc", "systemd", "system", "sockets.target.wants");
  mkdirSync(wants, { recursive: true });
  symlinkSync("/lib/systemd/system/poppin-pop3.socket", join(wants, "poppin-pop3.socket"));
  symlinkSync("/lib/systemd/system/ssh.socket", join(wants, "ssh.socket"));
  mkdirSync(join(root, "etc", "poppin"));
  const bin = tempDir("fake-bin");
  const calls = join(bin, "calls");
  for (const tool of ["systemctl", "deb-systemd-invoke", "deb-systemd-helper"]) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\n`, { mode: 0o755 });
  }
  const script = (name: string, ...args: string[]) => {
    writeFileSync(calls, "");
    const r = run([join(control, name), ...args], { env: { DPKG_ROOT: root, PATH: `${bin}:/usr/bin:/bin` } });
    expect(r.code).toBe(0);
    return readFileSync(calls, "utf8");
  };
  expect(script("postinst", "configure", "")).toBe("systemctl --system daemon-reload\n");
  expect(script("postinst", "configure", "0.0.9")).toBe("systemctl --system daemon-reload\ndeb-systemd-invoke try-restart poppin-pop3.service\n");
  expect(script("prerm", "upgrade", "0.1.1")).toBe("");
  expect(script("prerm", "remove")).toBe("deb-systemd-invoke stop poppin-pop3.socket poppin-pop3.service\n");
  expect(script("postrm", "remove")).toBe("systemctl --system daemon-reload\n");
  expect(lstatSync(join(wants, "poppin-pop3.socket")).isSymbolicLink()).toBe(true); // remove keeps the admin's choice
  expect(script("postrm", "purge")).toBe("systemctl --system daemon-reload\ndeb-systemd-helper purge poppin-pop3.socket poppin-pop3.service\n");
  expect(lstatSync(join(wants, "poppin-pop3.socket"), { throwIfNoEntry: false })).toBeUndefined();
  expect(lstatSync(join(wants, "ssh.socket")).isSymbolicLink()).toBe(true);
  expect(existsSync(join(root, "etc", "poppin"))).toBe(false);
}, 60_000);

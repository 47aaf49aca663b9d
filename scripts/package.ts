/**
 * `npm run package`: builds dist/poppin_VERSION_ARCH.deb with dpkg-deb (no other tool):
 *   /usr/bin/poppin                          the binary (no classic-name links: they would
 *                                            shadow ucspi-tcp's and daemontools' packages;
 *                                            `poppin install` makes them on request)
 *   /usr/share/man/man{5,8}/*.gz             the man pages
 *   /lib/systemd/system/poppin-pop3.{socket,service}   the socket-activated classic chain
 *   /etc/fail2ban/{filter.d,jail.d}/poppin.conf         the filter and a disabled example jail
 *   /etc/poppin/pop3.conf                    the configuration file (every line a comment)
 *   /usr/share/doc/poppin/                   copyright, README, examples
 * Needs dist/poppin (npm run build) and scdoc (for the man pages).
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join, resolve } from "node:path";
import { buildManPages } from "./man.ts";

const ROOT = resolve(import.meta.dir, "..");

export interface PackageOptions {
  binary: string;
  outDir: string;
  version: string;
  arch: string;
}

function put(root: string, path: string, content: string | Uint8Array, mode = 0o644): void {
  const dest = join(root, path);
  mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
  writeFileSync(dest, content);
  chmodSync(dest, mode);
}

/** The shipped service, pointed at /usr/bin/poppin (no classic names there) and /etc/poppin. */
export function packagedService(service: string): string {
  return service
    .replace(/\/usr\/local\/bin\/poppin /g, "/usr/bin/poppin ")
    .replace(/\/usr\/local\/bin\/qmail-popup /g, "/usr/bin/poppin popup ")
    .replace(/\/usr\/local\/bin\/checkpassword /g, "/usr/bin/poppin checkpassword ")
    .replace(/\/usr\/local\/bin\/qmail-pop3d /g, "/usr/bin/poppin pop3d ")
    .replace(/^ExecStart=/m, "Environment=POPPIN_CONFIG=/etc/poppin/pop3.conf\nExecStart=");
}

const EXAMPLE_CONF = `# /etc/poppin/pop3.conf: poppin's POP3 policies (Qpopper's syntax), read by the
# poppin-pop3 service (POPPIN_CONFIG). Every line is a comment: the defaults apply.
# See poppin.conf(5) and poppin-popup(8) for every option.
#
# set clear-text-password = tls
# set tls-server-cert-file = /etc/letsencrypt/live/pop.example.org/fullchain.pem
# set tls-private-key-file = /etc/letsencrypt/live/pop.example.org/privkey.pem
# set auth-failure-delay = 2
# set mailbox-lock = session
# set statistics
`;

/**
 * The maintainer scripts, as dh_installsystemd writes them for a unit that is not enabled by
 * default: an upgrade restarts a running serve on the new binary (KillMode=process: sessions in
 * progress finish on the old one); remove stops the socket and the service, so nothing listens
 * on port 110 for a binary that is gone; purge removes the enable links systemctl made.
 * ${DPKG_ROOT} as dpkg sets it for an installation into another root.
 */
const UNITS = "poppin-pop3.socket poppin-pop3.service";
const SYSTEMD_RUNS = 'if [ -d "${DPKG_ROOT:-}/run/systemd/system" ]; then';
export const POSTINST = `#!/bin/sh
set -e
${SYSTEMD_RUNS}
  systemctl --system daemon-reload >/dev/null || true
  if [ "$1" = configure ] && [ -n "$2" ]; then
    deb-systemd-invoke try-restart poppin-pop3.service >/dev/null || true
  fi
fi
`;
export const PRERM = `#!/bin/sh
set -e
if [ "$1" = remove ]; then
  ${SYSTEMD_RUNS}
    deb-systemd-invoke stop ${UNITS} >/dev/null || true
  fi
fi
`;
export const POSTRM = `#!/bin/sh
set -e
${SYSTEMD_RUNS}
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
  # systemctl enable's links (sockets.target.wants/...) would dangle once the units are gone.
  find "\${DPKG_ROOT:-}/etc/systemd/system" -type l \\( -name poppin-pop3.socket -o -name poppin-pop3.service \\) -delete 2>/dev/null || true
  if command -v deb-systemd-helper >/dev/null; then deb-systemd-helper purge ${UNITS} >/dev/null || true; fi
  rmdir "\${DPKG_ROOT:-}/etc/poppin" 2>/dev/null || true
fi
`;

const MAINTAINER = "poppin developers <poppin@localhost>";

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: poppin

Files: *
Copyright: 2026 poppin developers
License: ISC
 Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
`;

/** The changelog a native package carries (Debian Policy 12.7), one entry for this build. */
function changelog(version: string): string {
  const date = new Date().toUTCString().replace(/GMT$/, "+0000").replace(/^(\w{3}), (\d{2}) (\w{3}) (\d{4})/, "$1, $2 $3 $4");
  return `poppin (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${date}\n`;
}

/**
 * What lintian reports that is the nature of a Bun binary: the runtime (with its own image
 * libraries) is compiled in, and strip would cut off the program appended to it.
 */
const LINTIAN_OVERRIDES = `# Bun's compiled binary: the runtime and the program are one file; strip removes the program.
poppin: unstripped-binary-or-object [usr/bin/poppin]
poppin: embedded-library libjpeg [usr/bin/poppin]
poppin: hardening-no-pie [usr/bin/poppin]
poppin: hardening-no-relro [usr/bin/poppin]
`;

/** Directories 0755 and nothing writable by group or others, whatever the umask was. */
function chmodTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chmodTree(path);
    else chmodSync(path, statSync(path).mode & 0o755);
  }
}

function sizeKiB(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += sizeKiB(path);
    else total += Math.ceil(statSync(path).size / 1024);
  }
  return total;
}

/** Builds the .deb; returns its path. */
export function buildPackage(opts: PackageOptions): string {
  const stage = join(opts.outDir, `.deb-stage-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  try {
    mkdirSync(stage, { recursive: true, mode: 0o755 });
    mkdirSync(join(stage, "usr", "bin"), { recursive: true, mode: 0o755 });
    copyFileSync(opts.binary, join(stage, "usr", "bin", "poppin"));
    chmodSync(join(stage, "usr", "bin", "poppin"), 0o755);
    const man = join(stage, ".man");
    for (const page of buildManPages(man)) {
      const section = /\.([1-8])$/.exec(page)![1];
      put(stage, `usr/share/man/man${section}/${page.split("/").pop()}.gz`, gzipSync(readFileSync(page), { level: 9 }));
    }
    rmSync(man, { recursive: true, force: true });
    const systemd = join(ROOT, "scripts", "systemd");
    put(stage, "lib/systemd/system/poppin-pop3.socket", readFileSync(join(systemd, "poppin-pop3.socket")));
    put(stage, "lib/systemd/system/poppin-pop3.service", packagedService(readFileSync(join(systemd, "poppin-pop3.service"), "utf8")));
    const fail2ban = join(ROOT, "scripts", "fail2ban");
    put(stage, "etc/fail2ban/filter.d/poppin.conf", readFileSync(join(fail2ban, "filter.d", "poppin.conf")));
    put(stage, "etc/fail2ban/jail.d/poppin.conf", readFileSync(join(fail2ban, "jail.d", "poppin.conf")));
    put(stage, "etc/poppin/pop3.conf", EXAMPLE_CONF);
    const doc = "usr/share/doc/poppin";
    put(stage, `${doc}/copyright`, COPYRIGHT);
    put(stage, `${doc}/changelog.gz`, gzipSync(changelog(opts.version), { level: 9 }));
    put(stage, "usr/share/lintian/overrides/poppin", LINTIAN_OVERRIDES);
    put(stage, `${doc}/README.md.gz`, gzipSync(readFileSync(join(ROOT, "README.md")), { level: 9 }));
    put(stage, `${doc}/examples/pop3.conf`, EXAMPLE_CONF);
    put(stage, `${doc}/examples/run`, "#!/bin/sh\n# A daemontools run script for the classic chain (poppin install makes the classic names).\nexec 2>&1\nexec tcpserver -v -HR -c 31 -x /etc/tcp.pop3.cdb 0 110 \\\n  qmail-popup mail.example.org checkpassword qmail-pop3d Maildir\n");
    const conffiles = ["/etc/fail2ban/filter.d/poppin.conf", "/etc/fail2ban/jail.d/poppin.conf", "/etc/poppin/pop3.conf"];
    const control = [
      "Package: poppin",
      `Version: ${opts.version}`,
      `Architecture: ${opts.arch}`,
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${sizeKiB(stage)}`,
      "Depends: libc6, libcrypt1",
      "Suggests: ucspi-tcp, daemontools, fail2ban",
      "Section: mail",
      "Priority: optional",
      "Description: POP3 mail-pickup service the qmail way, in one binary",
      " poppin runs a complete POP3 service as small tools chained together:",
      " tcpserver, tcprules, qmail-popup, checkpassword, qmail-pop3d, multilog,",
      " maildirmake and more, each an applet of one binary (poppin APPLET).",
      " This package installs no classic-name links; run poppin install for them.",
      "",
    ].join("\n");
    put(stage, "DEBIAN/control", control);
    put(stage, "DEBIAN/conffiles", conffiles.join("\n") + "\n");
    put(stage, "DEBIAN/postinst", POSTINST, 0o755);
    put(stage, "DEBIAN/prerm", PRERM, 0o755);
    put(stage, "DEBIAN/postrm", POSTRM, 0o755);
    // Modes must not depend on the builder's umask (077 made 0700 directories: dpkg-deb
    // refuses such a DEBIAN/, and /usr/share/doc/poppin would be root's only).
    chmodTree(stage);
    const deb = join(opts.outDir, `poppin_${opts.version}_${opts.arch}.deb`);
    const r = Bun.spawnSync(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", stage, deb], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`dpkg-deb failed: ${r.stderr.toString().trim()}`);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export function debianArch(): string {
  const r = Bun.spawnSync(["dpkg", "--print-architecture"], { stdout: "pipe" });
  if (r.exitCode !== 0) throw new Error("dpkg --print-architecture failed: is this Debian?");
  return r.stdout.toString().trim();
}

if (import.meta.main) {
  try {
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    const deb = buildPackage({ binary: join(ROOT, "dist", "poppin"), outDir: join(ROOT, "dist"), version, arch: debianArch() });
    console.log(deb);
  } catch (err) {
    console.error(`package: fatal: ${(err as Error).message}`);
    process.exit(111);
  }
}

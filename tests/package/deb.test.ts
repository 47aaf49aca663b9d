/**
 * The Debian package: built with dpkg-deb, installed with dpkg -i, a POP3 login through the
 * packaged units under systemd-socket-activate, then dpkg -r leaves only the conffiles and
 * dpkg -P leaves nothing (every path of dpkg -L that the package created is gone).
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, readFileSync, realpathSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { buildPackage, debianArch } from "../../scripts/package.ts";

/** dpkg, waiting while another dpkg or apt holds its lock. */
function dpkg(args: string[]) {
  for (let i = 0; ; i++) {
    const r = run(["dpkg", ...args], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive" }, timeoutMs: 120_000 });
    if (r.code === 0 || !/lock/i.test(r.stderr) || i >= 60) return r;
    Bun.sleepSync(1000);
  }
}

function installed(): boolean {
  return run(["dpkg-query", "-W", "-f=${Status}", "poppin"]).out.includes("installed");
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

afterAll(() => {
  if (run(["dpkg-query", "-W", "poppin"]).code === 0) dpkg(["-P", "poppin"]);
});

test("npm run package's .deb installs, serves a POP3 login through its units, and is removed without a trace", async () => {
  requireTool("dpkg-deb");
  const activate = requireTool("systemd-socket-activate");
  const curl = requireTool("curl");
  if (run(["dpkg-query", "-W", "poppin"]).code === 0) dpkg(["-P", "poppin"]);

  const out = tempDir("deb");
  const deb = buildPackage({ binary: POPPIN, outDir: out, version: "0.1.0", arch: debianArch() });
  expect(deb).toBe(join(out, `poppin_0.1.0_${debianArch()}.deb`));
  const contents = run(["dpkg-deb", "-c", deb]).out;
  expect(contents).toContain("./usr/bin/poppin\n");
  for (const classic of ["tcpserver", "qmail-popup", "multilog", "checkpassword"]) expect(contents).not.toContain(`/bin/${classic}\n`);
  const tcpserverBefore = existsSync("/usr/bin/tcpserver") ? realpathSync("/usr/bin/tcpserver") : undefined;

  // Which paths exist before: only those the package creates must go away again.
  const listed = contents.split("\n").filter(Boolean).map((line) => line.split(/\s+/).pop()!.replace(/^\./, "").replace(/\/$/, "")).filter(Boolean);
  const existedBefore = new Set(listed.filter((p) => existsSync(p)));

  const install = dpkg(["-i", deb]);
  expect(install.stderr).not.toContain("error");
  expect(install.code).toBe(0);
  expect(installed()).toBe(true);
  const files = dpkg(["-L", "poppin"]).out.split("\n").filter((p) => p.startsWith("/") && p !== "/.");
  for (const path of ["/usr/bin/poppin", "/lib/systemd/system/poppin-pop3.socket", "/lib/systemd/system/poppin-pop3.service",
    "/etc/fail2ban/filter.d/poppin.conf", "/etc/fail2ban/jail.d/poppin.conf", "/etc/poppin/pop3.conf", "/usr/share/man/man8/poppin-serve.8.gz"]) {
    expect(files).toContain(path);
  }
  const conffiles = dpkg(["--status", "poppin"]).out.split("\n").filter((l) => /^ \/etc\//.test(l)).map((l) => l.trim().split(" ")[0]!);
  expect(conffiles.sort()).toEqual(["/etc/fail2ban/filter.d/poppin.conf", "/etc/fail2ban/jail.d/poppin.conf", "/etc/poppin/pop3.conf"]);
  expect(run(["/usr/bin/poppin", "--version"]).out).toMatch(/^poppin 0\.1\.0\n/);
  expect(existsSync("/usr/bin/tcpserver") ? realpathSync("/usr/bin/tcpserver") : undefined).toBe(tcpserverBefore);
  expect(run(["man", "-P", "cat", "poppin-serve"], { env: { PATH: process.env.PATH, MANWIDTH: "80" } }).out).toContain("tcpserver");

  // A virtual user whose mail belongs to nobody, and the packaged service's own command line.
  const base = tempDir("debuser");
  chmodSync(base, 0o755);
  const home = join(base, "joe");
  expect(run(["/usr/bin/poppin", "maildirmake", home]).code).toBe(0);
  expect(run(["/usr/bin/poppin", "maildirmake", join(home, "Maildir")]).code).toBe(0);
  expect(run(["/usr/bin/poppin", "deliver", join(home, "Maildir")], { stdin: "Subject: packaged\n\nhello from the package\n" }).code).toBe(0);
  for (const p of run(["find", home]).out.trim().split("\n")) chownSync(p, 65534, 65534);
  const users = join(base, "users");
  expect(run(["/usr/bin/poppin", "users", "-f", users, "add", "joe", "65534", "65534", home], { stdin: "secret\n" }).code).toBe(0);
  const service = readFileSync("/lib/systemd/system/poppin-pop3.service", "utf8");
  const environment = [...service.matchAll(/^Environment=(.*)$/gm)].map((m) => m[1]!);
  expect(environment).toEqual(["POPPIN_CONFIG=/etc/poppin/pop3.conf"]);
  const argv = /^ExecStart=(.*)$/m.exec(service)![1]!.split(/\s+/).map((w) => w.replace("%H", "pop.example.org"));
  expect(argv[0]).toBe("/usr/bin/poppin");
  const port = await freePort();
  const env = [...environment, `POPPIN_USERDB=${users}.cdb`].flatMap((e) => ["-E", e]);
  const server = Bun.spawn([activate, "-l", `127.0.0.1:${port}`, ...env, ...argv], { stdout: "ignore", stderr: "pipe", env: { PATH: "/usr/bin:/bin" } });
  try {
    let list = run([curl, "-sS", "--max-time", "10", "--user", "joe:secret", `pop3://127.0.0.1:${port}/`]);
    for (let i = 0; i < 50 && list.code === 7; i++) {
      Bun.sleepSync(100);
      list = run([curl, "-sS", "--max-time", "10", "--user", "joe:secret", `pop3://127.0.0.1:${port}/`]);
    }
    expect(list.stderr).toBe("");
    expect(list.out).toMatch(/^1 \d+\r\n$/);
    const message = run([curl, "-sS", "--max-time", "10", "--user", "joe:secret", `pop3://127.0.0.1:${port}/1`]);
    expect(message.out).toContain("hello from the package");
    const wrong = run([curl, "-sS", "--max-time", "10", "--user", "joe:wrong", `pop3://127.0.0.1:${port}/`]);
    expect(wrong.code).not.toBe(0);
  } finally {
    server.kill("SIGTERM");
    await Promise.race([server.exited, Bun.sleep(3000)]);
    server.kill("SIGKILL");
  }

  // dpkg -r: everything but the conffiles goes; dpkg -P: those too.
  expect(dpkg(["-r", "poppin"]).code).toBe(0);
  const created = files.filter((p) => !existedBefore.has(p));
  const keptByRemove = new Set(conffiles.flatMap((c) => [c, "/etc/poppin"]));
  expect(created.filter((p) => !keptByRemove.has(p) && existsSync(p))).toEqual([]);
  for (const c of conffiles) expect(existsSync(c)).toBe(true);
  expect(dpkg(["-P", "poppin"]).code).toBe(0);
  expect(created.filter((p) => existsSync(p))).toEqual([]);
  expect(existsSync("/etc/poppin")).toBe(false);
  expect(run(["dpkg-query", "-W", "poppin"]).code).not.toBe(0);
}, 180_000);

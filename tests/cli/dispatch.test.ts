import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, run, tempDir } from "../helpers.ts";

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) chownTree(join(path, e.name), uid, gid);
    else chownSync(join(path, e.name), uid, gid);
  }
}

describe("dispatch", () => {
  test("poppin alone lists every applet", () => {
    const r = run([POPPIN]);
    expect(r.code).toBe(0);
    for (const name of ["serve", "rules", "popup", "checkpassword", "pop3d", "log", "maildirmake", "deliver", "install"]) {
      expect(r.out).toContain(`  ${name} `);
    }
  });

  test("--version prints the package version", () => {
    const r = run([POPPIN, "--version"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^poppin \d+\.\d+\.\d+\n$/);
  });

  test("unknown applet is a usage error naming the known ones", () => {
    const r = run([POPPIN, "frobnicate"]);
    expect(r.code).toBe(100);
    expect(r.stderr).toContain("unknown applet frobnicate");
    expect(r.stderr).toContain("tcprules");
    // Every applet `poppin --help` lists is among the known names (config was missing).
    const known = r.stderr.split("; known: ")[1]!.trim().split(" ");
    const listed = [...run([POPPIN]).out.matchAll(/^  ([a-z0-9]+) /gm)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(20);
    expect(listed.filter((name) => !known.includes(name))).toEqual([]);
  });

  test("unknown symlink name is a usage error", () => {
    const dir = tempDir("disp");
    symlinkSync(POPPIN, join(dir, "frob"));
    const r = run([join(dir, "frob")]);
    expect(r.code).toBe(100);
    expect(r.stderr).toContain("unknown applet name frob");
  });

  test("help APPLET and APPLET --help print usage under the called name", () => {
    const a = run([POPPIN, "help", "tcprules"]);
    expect(a.code).toBe(0);
    expect(a.out).toStartWith("usage: tcprules ");
    const b = run([applet("maildirmake"), "--help"]);
    expect(b.code).toBe(0);
    expect(b.out).toStartWith("usage: maildirmake ");
    const d = run([POPPIN, "help", "cdbmake"]);
    expect(d.out).toBe("usage: cdbmake CDB TMP < records\n");
    const c = run([POPPIN, "help", "nope"]);
    expect(c.code).toBe(100);
  });

  test("the binary under a versioned name (poppin-0.1.0) is poppin itself: popup serves its chain in one process", () => {
    const dir = tempDir("versioned");
    chmodSync(dir, 0o755);
    const self = join(dir, "poppin-0.1.0");
    symlinkSync(POPPIN, self);
    const home = join(dir, "home");
    for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(home, "Maildir", sub), { recursive: true });
    writeFileSync(join(home, "Maildir", "new", "1700000000.M1P1.host"), "Subject: x\n\nhi\n");
    const users = join(dir, "users");
    // The account poppin becomes (root's tests) or the test's own (a user's): never uid 0.
    const [uid, gid] = process.getuid!() === 0 ? [65534, 65534] : [process.getuid!(), process.getgid!()];
    chownTree(home, uid, gid);
    const added = run([self, "users", "-f", users, "add", "--sha512", "joe", String(uid), String(gid), home], { stdin: "secret\n" });
    expect(added.code).toBe(0);
    const chain = [self, "popup", "mail.example", self, "checkpassword", self, "pop3d", "Maildir"];
    const r = run(chain, { stdin: "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n", env: { PATH: "/usr/bin:/bin", TCPREMOTEIP: "192.0.2.7", POPPIN_USERDB: `${users}.cdb` } });
    expect(r.out).toBe("+OK \r\n+OK \r\n+OK \r\n+OK 1 18\r\n+OK \r\n");
    // pop3d's own line, as from `poppin`: not a line of a separate checkpassword process's (popup
    // labels those "checkpassword: warning:" when the chain's names are not its own).
    expect(r.stderr).toMatch(/^poppin pop3d: info: end=quit user=joe rip=192\.0\.2\.7 /m);
    expect(r.stderr).not.toContain("warning");
  });
});

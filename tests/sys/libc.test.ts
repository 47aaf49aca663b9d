import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync, readFileSync } from "node:fs";
import { getpwnam, getspnam, execve, LibcError } from "../../mod/sys/libc.ts";
import { POPPIN, run } from "../helpers.ts";
import { ownTempDirs } from "../auth/temp.ts";

const tempDir = ownTempDirs();

const PROBE = join(import.meta.dir, "fixtures", "exec_probe.ts");

describe("libc through bun:ffi", () => {
  test("getpwnam_r finds root and nobody (NSS), not an unknown name", () => {
    const root = getpwnam("root")!;
    expect(root).toMatchObject({ name: "root", uid: 0, gid: 0, dir: "/root" });
    const nobody = getpwnam("nobody")!;
    expect(nobody.uid).toBe(65534);
    expect(nobody.name).toBe("nobody");
    expect(getpwnam("no-such-user-poppin")).toBeUndefined();
    expect(getpwnam(Buffer.from([0xff, 0xfe]))).toBeUndefined();
  });

  test("getpwnam_r agrees with getent for every field", () => {
    const line = run(["getent", "passwd", "nobody"]).out.trim().split(":");
    const nobody = getpwnam("nobody")!;
    expect([nobody.name, nobody.passwd, String(nobody.uid), String(nobody.gid), nobody.gecos, nobody.dir, nobody.shell]).toEqual(line);
  });

  test("getspnam_r reads shadow as root, with the aging fields", () => {
    expect(process.getuid!()).toBe(0);
    const root = getspnam("root")!;
    expect(root.name).toBe("root");
    expect(typeof root.hash).toBe("string");
    const fields = run(["getent", "shadow", "root"]).out.trim().split(":");
    expect(root.hash).toBe(fields[1]);
    expect(root.lastChange).toBe(fields[2] === "" ? -1 : Number(fields[2]));
    expect(root.max).toBe(fields[4] === "" ? -1 : Number(fields[4]));
    expect(getspnam("no-such-user-poppin")).toBeUndefined();
  });

  test("execve replaces the process: env as given, fds 0-2 only, SIGPIPE back to default", () => {
    const r = run([process.execPath, PROBE, 'echo "probe=$PROBE"; ls /proc/$$/fd; grep SigIgn /proc/$$/status'], { stdin: "in" });
    expect(r.code).toBe(0);
    expect(r.out).toContain("probe=yes\n");
    // A simple command, not a pipeline: the shell holds no pipe of its own while ls lists its fds.
    expect(r.out).toContain("probe=yes\n0\n1\n2\nSigIgn");
    expect(r.out).toMatch(/SigIgn:\s+0+\n/);
  });

  test("clearCloseOnExec lets a chosen fd through execve", () => {
    const r = run([process.execPath, PROBE, "ls /proc/$$/fd", "keep"]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(4);
  });

  test("closedAtStart: a closed fd 0, 1 or 2 (Bun puts /dev/null there) is told from an open one, /dev/null too", () => {
    const probe = `import { closedAtStart } from ${JSON.stringify(join(import.meta.dir, "..", "..", "mod", "sys", "libc.ts"))};
      require("node:fs").writeFileSync(${JSON.stringify("/dev/fd/3")}, [0, 1, 2].map((fd) => closedAtStart(fd) ? "closed" : "open").join(" "));`;
    const dir = tempDir("closed-fds");
    const script = join(dir, "probe.ts");
    writeFileSync(script, probe);
    const out = join(dir, "out");
    const states = (redirections: string) => {
      const r = run(["bash", "-c", `"$0" "$1" 3>"$2" ${redirections}`, process.execPath, script, out]);
      expect(r.code).toBe(0);
      return readFileSync(out, "latin1");
    };
    // Bun's own check: /proc/self/fd/0 of a closed stdin reads as /dev/null.
    expect(run(["bash", "-c", `"$0" -e 'console.log(require("node:fs").readlinkSync("/proc/self/fd/0"))' <&-`, process.execPath]).out.trim()).toBe("/dev/null");
    expect(states("<&-")).toBe("closed open open");
    expect(states("</dev/null")).toBe("open open open");
    expect(states("<<<'rules' >/dev/null 2>&-")).toBe("open open closed");
    expect(states(">&-")).toBe("open closed open");
  });

  test("execve failure is a LibcError with the errno name", () => {
    expect(() => execve("/nonexistent/prog", ["prog"], {})).toThrow(LibcError);
    try { execve("/etc", ["etc"], {}); } catch (err) { expect((err as LibcError).code).toBe("EACCES"); }
  });

  test("the compiled binary loads libc and libcrypt (users add hashes, checkpassword looks up)", () => {
    const dir = tempDir("ffi");
    const file = join(dir, "users");
    const add = run([POPPIN, "users", "-f", file, "add", "ffi", "5000", "5000", "/nonexistent"], { stdin: "pw\n" });
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    expect(readFileSync(file, "utf8")).toMatch(/^ffi:\$y\$j9T\$/);
    // root with a wrong password: passwd, shadow and crypt all ran, the answer is a plain 1.
    const req = join(dir, "req");
    writeFileSync(req, "root\0wrong\0");
    const r = Bun.spawnSync(["sh", "-c", `exec "$0" checkpassword true 3<"$1"`, POPPIN, req]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(1);
  });
});

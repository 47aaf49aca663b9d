/**
 * A qmail-era run script keeps its memory limit: `softlimit -m 2000000 tcpserver ...`. The
 * runtime cannot start under it: below about 300 MB Bun dies by SIGSEGV or "Bun has crashed"
 * before poppin runs, and up to about 2.5 GB it starts without the JIT, where bun:ffi refuses.
 * poppin's softlimit refuses to exec poppin under such a limit with a sentence naming it, and a
 * poppin applet started under one by Debian's softlimit (or ulimit) says which limit, not a stack.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";

const work = tempDir("memlimit");

test("poppin's softlimit with qmail's -m 2000000 before tcpserver: 111 and the limit named (it crashed with SIGSEGV, no word)", () => {
  const r = run([applet("softlimit"), "-m", "2000000", applet("tcpserver"), "0", "110", "true"], { cwd: work });
  expect(r.code).toBe(111);
  expect(r.stderr).toBe(`softlimit: fatal: unable to run ${applet("tcpserver")}: poppin cannot start with its data size limited to 2000000 bytes: raise the limit (softlimit -m, -d or -a; ulimit -d or -v) to at least 3000000000 bytes or remove it\n`);
  // Found on $PATH as pathexec finds it, and an address-space limit alone too.
  const onPath = run([applet("softlimit"), "-a", "100000000", "tcpserver", "0", "110", "true"], { cwd: work, env: { PATH: `${join(applet("tcpserver"), "..")}:/usr/bin:/bin` } });
  expect(onPath.code).toBe(111);
  expect(onPath.stderr).toContain("softlimit: fatal: unable to run tcpserver: poppin cannot start with its address space limited to 100000000 bytes");
  // Any other program still runs under the limit, as daemontools' softlimit runs it.
  const other = run([applet("softlimit"), "-d", "100000000", "/bin/sh", "-c", "exit 7"], { cwd: work });
  expect([other.code, other.stderr]).toEqual([7, ""]);
});

test("under Debian's softlimit -d/-a 1 GB: each applet names the limit and exits 111 instead of an internal error's stack", () => {
  const softlimit = requireTool("softlimit");
  const cases: [string[], string, string][] = [
    [["-d", "1000000000", applet("setuidgid"), "nobody", "true"], "", "setuidgid: fatal: memory limit too small for the runtime (data size 1000000000, address space unlimited): raise the limit (softlimit -m, -d or -a; ulimit -d or -v) to at least 3000000000 bytes or remove it\n"],
    [["-a", "1000000000", applet("tcpserver"), "127.0.0.1", "0", "true"], "", "tcpserver: fatal: memory limit too small for the runtime (data size unlimited, address space 1000000000)"],
    [["-d", "1000000000", applet("multilog"), "t", "./main"], "a line\n", "multilog: fatal: unable to lock directory ./main: memory limit too small for the runtime (data size 1000000000"],
  ];
  for (const [args, stdin, message] of cases) {
    const r = run([softlimit, ...args], { cwd: work, stdin });
    expect(r.stderr).toStartWith(message);
    expect(r.stderr).not.toContain("internal error");
    expect(r.code).toBe(111);
  }
});

/**
 * setuidgid, envuidgid, softlimit and envdir against Debian's daemontools: the same
 * arguments through both, the same stdout, stderr and exit code byte for byte.
 * Both run under their classic name (ours through the symlink `poppin install` makes).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, binDir, POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { highAccount, removeHighAccounts } from "../sys/high_account.ts";

afterAll(removeHighAccounts);

const work = tempDir("dt");
const envDir = join(work, "env");
mkdirSync(envDir);
writeFileSync(join(envDir, "A"), "hello  \t\nsecond line\n");
writeFileSync(join(envDir, "B"), Buffer.from("x\0y\nz"));
writeFileSync(join(envDir, "HOME"), "");
writeFileSync(join(envDir, ".hidden"), "never\n");

/** Runs NAME ARGS with Debian's tool and with ours; the children they start come from the same PATH side. */
function both(name: string, args: string[]): { debian: string; ours: string } {
  const debianPath = "/usr/bin:/bin";
  const oursPath = `${binDir()}:/usr/bin:/bin`;
  const show = (r: ReturnType<typeof run>) => `${r.out}|${r.stderr}|rc=${r.code}`;
  const d = run([requireTool(name), ...args], { cwd: work, env: { PATH: debianPath, HOME: "/root", KEEP: "1" } });
  const o = run([applet(name), ...args], { cwd: work, env: { PATH: oursPath, HOME: "/root", KEEP: "1" } });
  return { debian: show(d), ours: show(o) };
}

const CASES: [string, string[]][] = [
  ["setuidgid", []],
  ["setuidgid", ["nobody"]],
  ["setuidgid", ["no-such-account", "true"]],
  ["setuidgid", ["nobody", "sh", "-c", "id -u; id -g; id -G; echo $KEEP"]],
  ["setuidgid", ["nobody", "/nonexistent/prog"]],
  ["setuidgid", ["nobody", "no-such-program"]],
  ["setuidgid", ["daemon", "/etc/passwd"]],
  ["envuidgid", []],
  ["envuidgid", ["nobody"]],
  ["envuidgid", ["no-such-account", "env"]],
  ["envuidgid", ["daemon", "sh", "-c", "echo $UID $GID; id -u"]],
  ["envuidgid", ["daemon", "no-such-program"]],
  ["softlimit", []],
  ["softlimit", ["-z", "1", "true"]],
  ["softlimit", ["-d"]],
  ["softlimit", ["-d", "12x", "true"]],
  ["softlimit", ["-d", "1000"]],
  ["softlimit", ["-o", "5", "sh", "-c", "ulimit -n"]],
  ["softlimit", ["-o5", "-o", "=", "sh", "-c", "ulimit -n"]],
  ["softlimit", ["-m", "100000000", "sh", "-c", "ulimit -d -s -l -v"]],
  ["softlimit", ["-a", "50000000", "-p", "7", "--", "sh", "-c", "ulimit -v -u"]],
  ["softlimit", ["-t", "5", "-f", "100", "-c", "0", "-r", "1000", "-l", "20", "sh", "-c", "ulimit -t -f -c -m -l"]],
  ["softlimit", ["-o", "99999999999", "sh", "-c", "ulimit -n"]],
  ["softlimit", ["-d", "1000", "no-such-program"]],
  ["softlimit", ["-d", "1000", "/etc/passwd"]],
  ["envdir", []],
  ["envdir", ["env"]],
  ["envdir", ["no-such-dir", "true"]],
  ["envdir", ["env/A", "true"]],
  ["envdir", ["env", "sh", "-c", "printf '[%s][%s][%s][%s]' \"$A\" \"$B\" \"${HOME-unset}\" \"${hidden-unset}\""]],
  ["envdir", ["env", "no-such-program"]],
];

describe("daemontools helpers match Debian's byte for byte", () => {
  for (const [name, args] of CASES) {
    test(`${name} ${args.join(" ")}`, () => {
      const { debian, ours } = both(name, args);
      expect(ours).toBe(debian);
    });
  }

  test("envdir: a subdirectory cannot be read", () => {
    const dir = join(work, "withsub");
    mkdirSync(join(dir, "sub"), { recursive: true });
    const { debian, ours } = both("envdir", ["withsub", "true"]);
    expect(debian).toContain("unable to read withsub/sub: is a directory");
    expect(ours).toBe(debian);
  });

  test("envdir: the current directory cannot be read", () => {
    const { debian, ours } = both("setuidgid", ["nobody", "envdir", "env", "true"]);
    expect(debian).toBe("|envdir: fatal: unable to switch to current directory: access denied\n|rc=111");
    expect(ours).toBe(debian);
  });

  test("the environment they pass on, in order (env unsorted): as pathexec replaces, removes and appends", () => {
    const dir = join(work, "ordered");
    mkdirSync(dir, { recursive: true });
    // Replaced, removed (empty file), new: each moves entries as pathexec does.
    for (const [name, value] of [["HOME", "/home/x\n"], ["NEW1", "1\n"], ["KEEP", ""], ["ZED", "z\n"], ["GONE", ""], ["NEW2", "2\n"]]) writeFileSync(join(dir, name), value);
    const env = { PATH: "/usr/bin:/bin", HOME: "/root", KEEP: "1", Q: "2", UID: "5", A: "1", GID: "7", B: "2" };
    for (const args of [["envdir", "ordered", "/usr/bin/env"], ["envuidgid", "daemon", "/usr/bin/env"]]) {
      const [name, ...rest] = args;
      const d = run([requireTool(name), ...rest], { cwd: work, env });
      const o = run([applet(name), ...rest], { cwd: work, env });
      expect(o.code).toBe(0);
      expect({ args, out: o.out }).toEqual({ args, out: d.out });
    }
  });

  test("a chain of helpers as in a run script", () => {
    chmodSync(work, 0o755);
        // softlimit last: a Bun program (any poppin applet) raises its own open-files soft limit at start.
    const args = ["nobody", "envdir", "env", "envuidgid", "daemon", "softlimit", "-o", "20", "sh", "-c", "echo $A $UID; id -u; ulimit -n"];
    const { debian, ours } = both("setuidgid", args);
    expect(debian).toBe(`hello 1\n65534\n20\n||rc=0`);
    expect(ours).toBe(debian);
  });
});

describe("an account whose uid and gid are above 2^31 - 1 (valid on Linux, up to 2^32 - 2)", () => {
  const acct = highAccount("dtbig", { home: false });
  const cases: [string, string[]][] = [
    ["setuidgid", [acct.name, "sh", "-c", "id -u; id -g; id -G; cat /proc/self/status | grep -E '^(Uid|Gid|Groups):'; echo $KEEP"]],
    ["setuidgid", [acct.name, "no-such-program"]],
    ["envuidgid", [acct.name, "sh", "-c", "echo $UID $GID; id -u"]],
    // The environment in pathexec's order (PATH differs: each side's own tools come first).
    ["envuidgid", [acct.name, "sh", "-c", "env | grep -v ^PATH="]],
  ];
  for (const [name, args] of cases) {
    test(`${name} ${args.join(" ")}: the same bytes as daemontools'`, () => {
      const r = both(name, args);
      expect(r.ours).toBe(r.debian);
      if (name === "setuidgid" && args[1] === "sh") expect(r.ours).toStartWith(`${acct.uid}\n${acct.gid}\n${acct.gid}\nUid:\t${acct.uid}\t${acct.uid}\t${acct.uid}\t${acct.uid}\n`);
      if (name === "envuidgid" && args[3] === "echo $UID $GID; id -u") expect(r.ours).toBe(`${acct.uid} ${acct.gid}\n0\n||rc=0`);
    });
  }
});

describe("as poppin APPLET", () => {
  test("messages say poppin NAME, usage exits 100", () => {
    const p = run([POPPIN, "setuidgid", "no-such-account", "true"]);
    expect(p.stderr).toBe("poppin setuidgid: fatal: unknown account no-such-account\n");
    expect(p.code).toBe(111);
    const u = run([POPPIN, "envdir"]);
    expect(u.stderr).toBe("poppin envdir: usage: poppin envdir dir child\n");
    expect(u.code).toBe(100);
  });
});

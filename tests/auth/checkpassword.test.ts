/**
 * checkpassword as a process, with the fd-3 pipe popup gives it, against real system
 * accounts made for the test (useradd; CI runs as root) and a virtual-user database.
 * Exit codes follow djb's interface (cr.yp.to/checkpwd/interface.html):
 * 0 PROG ran, 1 refused, 2 misuse, 111 temporary trouble.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { admin, BASE_ENV as BASE_ENV_FOR_ORDER, request, runCheckpassword } from "./checkpassword_helpers.ts";
import { ownTempDirs } from "./temp.ts";

const tempDir = ownTempDirs();

const tag = String(process.pid % 100000);
const U = { yes: `pcy${tag}`, sha: `pcs${tag}`, locked: `pcl${tag}`, zero: `pcz${tag}`, sys: `pcn${tag}`, old: `pcx${tag}`, nohome: `pch${tag}` };
const GROUP = `pcg${tag}`;
const PW = { yes: "Yes-crypt pw 1", sha: "Sha512 pw 2", other: "Other pw 3" };
const APOP_SECRET = "tanstaaf-apop";
const TS = `<4242.1700000000@test.example>`;
const PROBE = ["sh", "-c", 'echo "uid=$(id -u) groups=$(id -G)"; echo "cwd=$(pwd)"; echo "user=$USER home=$HOME shell=$SHELL rip=$TCPREMOTEIP"; echo fds:; ls /proc/$$/fd'];
const outputs: string[] = [];
const base = tempDir("cp");
chmodSync(base, 0o755);
const home = (name: string) => join(base, name);
const uids: Record<string, number> = {};

function track<T extends { stdout: string; stderr: string }>(r: T): T {
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function check(data: string, prog = PROBE, env: Record<string, string> = {}, opts: { uid?: number; gid?: number } = {}) {
  return track(await runCheckpassword(data, prog, { env: { TCPREMOTEIP: "192.0.2.7", ...env }, ...opts }));
}

function makeUser(name: string, password: string, extra: string[] = [], method?: string): void {
  admin("useradd", ["-M", "-d", home(name), "-s", "/bin/sh", ...extra, name]);
  uids[name] = Number(admin("id", ["-u", name]).trim());
  if (name !== U.nohome) {
    mkdirSync(home(name));
    chownSync(home(name), uids[name], Number(admin("id", ["-g", name]).trim()));
  }
  admin("chpasswd", method ? ["-c", method] : [], `${name}:${password}\n`);
}

beforeAll(() => {
  admin("groupadd", [GROUP]);
  makeUser(U.yes, PW.yes, ["-G", GROUP]);
  makeUser(U.sha, PW.sha, [], "SHA512");
  makeUser(U.locked, PW.other);
  admin("usermod", ["-L", U.locked]);
  makeUser(U.sys, PW.other, ["-r"]);
  makeUser(U.old, PW.other);
  admin("chage", ["-E", "2000-01-01", U.old]);
  makeUser(U.nohome, PW.other);
});

afterAll(() => {
  for (const name of Object.values(U)) {
    // -f: userdel refuses a uid that has processes (any uid-0 account) without it.
    try { admin("userdel", ["-f", name]); } catch { /* not created */ }
  }
  try { admin("groupdel", [GROUP]); } catch { /* not created */ }
});

describe("checkpassword: djb's exit codes", () => {
  test("the test accounts have the hash kinds we mean to test", () => {
    expect(admin("getent", ["shadow", U.yes]).split(":")[1]).toStartWith("$y$");
    expect(admin("getent", ["shadow", U.sha]).split(":")[1]).toStartWith("$6$");
    expect(admin("getent", ["shadow", U.locked]).split(":")[1]).toStartWith("!");
    expect(uids[U.sys]).toBeLessThan(1000);
  });

  test("no PROG: 2", async () => {
    expect((await check(request(U.yes, PW.yes), [])).code).toBe(2);
  });

  test("fd 3 not open: 111", async () => {
    const r = track(await runCheckpassword("", PROBE, { noFd3: true }));
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("checkpassword: fatal: unable to read fd 3: bad file descriptor\n");
  });

  test("malformed data: 2, silently", async () => {
    for (const data of ["", U.yes, `${U.yes}\0`, `${U.yes}\0${PW.yes}`]) {
      const r = await check(data);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe("");
    }
  });

  test("more than 512 bytes: 1; exactly 512 is read", async () => {
    const head = request(U.yes, PW.yes);
    expect((await check(head + "x".repeat(513 - head.length))).code).toBe(1);
    const r = await check(head + "x".repeat(512 - head.length));
    expect(r.code).toBe(0);
  });

  test("wrong password and unknown user: 1, silently", async () => {
    for (const data of [request(U.yes, PW.sha), request(`nosuch${tag}`, PW.yes), request("", PW.yes)]) {
      const r = await check(data);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toBe("");
    }
  });
});

describe("checkpassword: system accounts", () => {
  test("yescrypt: PROG runs as the user, in its home, with USER/HOME/SHELL, the rest of env kept, groups from initgroups, fds 0-2", async () => {
    const r = await check(request(U.yes, PW.yes, TS));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const gid = admin("id", ["-g", U.yes]).trim();
    const groups = admin("id", ["-G", U.yes]).trim();
    expect(groups.split(" ")).toHaveLength(2);
    expect(r.stdout).toBe(
      `uid=${uids[U.yes]} groups=${groups}\ncwd=${home(U.yes)}\nuser=${U.yes} home=${home(U.yes)} shell=/bin/sh rip=192.0.2.7\nfds:\n0\n1\n2\n`);
    expect(groups.startsWith(gid)).toBe(true);
  });

  test("USER, HOME and SHELL set as djb's checkpassword sets them (pathexec: a replaced variable's slot takes the last entry), so env prints the same order", async () => {
    const inherited = { HOME: "/old", X: "1", USER: "old", Y: "2" };
    const r = await check(request(U.yes, PW.yes, TS), ["/usr/bin/env"], inherited);
    expect(r.code).toBe(0);
    const names = r.stdout.split("\n").filter((l) => l !== "").map((l) => l.slice(0, l.indexOf("=")));
    // checkpassword.c: pathexec_env USER, then HOME, then SHELL, over the environment it was given.
    const expected: string[] = Object.keys({ ...BASE_ENV_FOR_ORDER, TCPREMOTEIP: "", ...inherited });
    for (const name of ["USER", "HOME", "SHELL"]) {
      const at = expected.indexOf(name);
      if (at >= 0) {
        const last = expected.pop()!;
        if (at < expected.length) expected[at] = last;
      }
      expected.push(name);
    }
    expect(names).toEqual(expected);
    expect(r.stdout).toContain(`\nHOME=${home(U.yes)}\nSHELL=/bin/sh\n`);
  });

  test("sha512-crypt account logs in; PROG found on PATH, its exit code is ours", async () => {
    const r = await check(request(U.sha, PW.sha), ["sh", "-c", "id -u; exit 7"]);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe(`${uids[U.sha]}\n`);
  });

  test("descriptors PROG inherits pass through, as with djb's checkpassword (fd 3 does not)", async () => {
    const file = join(base, "fd5");
    writeFileSync(file, "through fd 5\n");
    const fd = openSync(file, "r");
    try {
      const r = track(await runCheckpassword(request(U.yes, PW.yes), ["sh", "-c", "cat <&5; ls /proc/$$/fd"], { fd5: fd }));
      expect(r.code).toBe(0);
      const [first, ...fds] = r.stdout.trimEnd().split("\n");
      expect(first).toBe("through fd 5");
      expect(fds).toContain("5");
      expect(fds).not.toContain("3");
    } finally {
      closeSync(fd);
    }
  });

  test("PROG starts with no alarm pending: the watchdog that timed the change to the home stops before the exec", async () => {
    // A pending alarm(2) survives execve: a PROG that knows nothing of it (qmail-pop3d) would be killed mid-session.
    const r = await check(request(U.yes, PW.yes), ["/usr/bin/python3", "-c", "import signal; print('alarm', signal.alarm(0))"], { POPPIN_TIMEOUT: "5" });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("alarm 0\n");
  });

  test("locked account (usermod -L), expired account (chage -E): 1 with the right password", async () => {
    expect((await check(request(U.locked, PW.other))).code).toBe(1);
    expect((await check(request(U.old, PW.other))).code).toBe(1);
  });

  test("system uids below 1000 refused by default; POPPIN_MIN_UID lowers the floor", async () => {
    expect((await check(request(U.sys, PW.other))).code).toBe(1);
    const sys = await check(request(U.sys, PW.other), ["id", "-u"], { POPPIN_MIN_UID: "100" });
    expect(sys.code).toBe(0);
    expect(sys.stdout).toBe(`${uids[U.sys]}\n`);
  });

  test("uid 0 refused by default (a second uid-0 account, deleted at once, random password)", async () => {
    const password = randomBytes(18).toString("base64");
    try {
      makeUser(U.zero, password, ["-o", "-u", "0"]);
      expect(uids[U.zero]).toBe(0);
      expect((await check(request(U.zero, password))).code).toBe(1);
      const zero = await check(request(U.zero, password), ["id", "-u"], { POPPIN_MIN_UID: "0" });
      expect(zero.code).toBe(0);
      expect(zero.stdout).toBe("0\n");
    } finally {
      admin("userdel", ["-f", U.zero]);
    }
    expect(() => admin("getent", ["passwd", U.zero])).toThrow();
  });

  test("missing home: 111; PROG that cannot run: 111", async () => {
    const r = await check(request(U.nohome, PW.other));
    expect(r.code).toBe(111);
    expect(r.stderr).toBe(`checkpassword: fatal: unable to chdir to ${home(U.nohome)}: file does not exist\n`);
    const p = await check(request(U.yes, PW.yes), [`/nonexistent/prog${tag}`]);
    expect(p.code).toBe(111);
    expect(p.stderr).toBe(`checkpassword: fatal: unable to run /nonexistent/prog${tag}: file does not exist\n`);
  });

  test("PROG found as djb's pathexec finds it: past a PATH entry where it is missing or not executable, stopping at one that is not a program", async () => {
    const dirs = ["missing", "noexec", "garbage", "good"].map((d) => join(base, `path-${d}`));
    for (const d of dirs) mkdirSync(d, { recursive: true, mode: 0o755 });
    chmodSync(base, 0o755);
    const name = `prog${tag}`;
    writeFileSync(join(dirs[1]!, name), "#!/bin/sh\necho noexec\n", { mode: 0o644 }); // EACCES: the next entry
    writeFileSync(join(dirs[2]!, name), "\x7fELF garbage\n", { mode: 0o755 }); // ENOEXEC: the search stops
    writeFileSync(join(dirs[3]!, name), "#!/bin/sh\necho good\n", { mode: 0o755 });
    const past = await check(request(U.yes, PW.yes), [name], { PATH: [dirs[0], dirs[1], dirs[3]].join(":") });
    expect(past.stdout).toBe("good\n");
    expect(past.code).toBe(0);
    const stopped = await check(request(U.yes, PW.yes), [name], { PATH: [dirs[0], dirs[1], dirs[2], dirs[3]].join(":") });
    expect(stopped.code).toBe(111);
    expect(stopped.stdout).toBe("");
    expect(stopped.stderr).toBe(`checkpassword: fatal: unable to run ${name}: exec format error\n`);
  });

  test("not root: shadow cannot be read, which is temporary trouble (111)", async () => {
    const r = await check(request(U.yes, PW.yes), PROBE, {}, { uid: uids[U.yes], gid: uids[U.yes] });
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("checkpassword: fatal: unable to read /etc/shadow: access denied\n");
  });

  test("APOP for system accounts from POPPIN_APOP_SECRETS (0600 only)", async () => {
    const secrets = join(base, "apop-secrets");
    writeFileSync(secrets, `other:x\n${U.yes}:${APOP_SECRET}\n`, { mode: 0o600 });
    const digest = createHash("md5").update(TS + APOP_SECRET).digest("hex");
    const env = { POPPIN_APOP_SECRETS: secrets };
    const ok = await check(request(U.yes, digest, TS), ["id", "-u"], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${uids[U.yes]}\n`);
    const wrong = createHash("md5").update(TS + "guess").digest("hex");
    expect((await check(request(U.yes, wrong, TS), ["id", "-u"], env)).code).toBe(1);
    // USER/PASS through qmail-popup also carries the timestamp: a password that is no digest is checked with crypt.
    expect((await check(request(U.yes, PW.yes, TS), ["true"], env)).code).toBe(0);
    // Without the secrets file, the digest is just a wrong password.
    expect((await check(request(U.yes, digest, TS), ["true"])).code).toBe(1);
    chmodSync(secrets, 0o644);
    const open = await check(request(U.yes, digest, TS), ["true"], env);
    expect(open.code).toBe(111);
    expect(open.stderr).toContain("must be 0600 or stricter");
  });
});

describe("checkpassword: virtual users", () => {
  const dir = join(base, "vhosts");
  const file = join(dir, "users");
  const VUID = 5000 + (process.pid % 1000);
  const mailHome = (name: string) => join(dir, "example.org", name);

  beforeAll(() => {
    mkdirSync(join(dir, "example.org"), { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    for (const name of ["you", "me"]) {
      mkdirSync(mailHome(name));
      chownSync(mailHome(name), VUID, VUID);
    }
    const add = (args: string[], input: string) => {
      const r = run([POPPIN, "users", "-f", file, "add", ...args], { stdin: input });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    };
    add(["--apop", "you", String(VUID), String(VUID), mailHome("you")], `${PW.yes}\n${APOP_SECRET}\n`);
    add(["--sha512", "me", String(VUID + 1), String(VUID + 1), mailHome("me")], `${PW.sha}\n`);
    // The database must be readable by the non-root run below (mode 0600, owned by its uid).
    chownSync(`${file}.cdb`, VUID, VUID);
    chownSync(file, VUID, VUID);
  });

  test("from the cdb (POPPIN_USERDB) and from the text file (--userdb=)", async () => {
    const r = await check(request("you", PW.yes), PROBE, { POPPIN_USERDB: `${file}.cdb` });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`uid=${VUID} groups=${VUID}\ncwd=${mailHome("you")}\nuser=you home=${mailHome("you")} shell=/usr/sbin/nologin rip=192.0.2.7\nfds:\n0\n1\n2\n`);
    const t = await check(request("me", PW.sha), [`--userdb=${file}`, "id", "-u"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toBe(`${VUID + 1}\n`);
  });

  test("wrong password, unknown virtual user, system user not in the database: 1", async () => {
    const env = { POPPIN_USERDB: `${file}.cdb` };
    expect((await check(request("you", PW.sha), PROBE, env)).code).toBe(1);
    expect((await check(request("nosuch", PW.yes), PROBE, env)).code).toBe(1);
    expect((await check(request(U.yes, PW.yes), PROBE, env)).code).toBe(1);
  });

  test("APOP with the user's secret: right digest 0, wrong digest 1", async () => {
    const env = { POPPIN_USERDB: `${file}.cdb` };
    const digest = createHash("md5").update(TS + APOP_SECRET).digest("hex");
    expect((await check(request("you", digest, TS), ["true"], env)).code).toBe(0);
    const wrong = createHash("md5").update(TS + APOP_SECRET + "x").digest("hex");
    expect((await check(request("you", wrong, TS), ["true"], env)).code).toBe(1);
    // A user without a secret cannot use APOP.
    const other = createHash("md5").update(TS + APOP_SECRET).digest("hex");
    expect((await check(request("me", other, TS), ["true"], env)).code).toBe(1);
  });

  test("not root (the single-UID setup): our own uid logs in, another uid is refused", async () => {
    const env = { POPPIN_USERDB: `${file}.cdb` };
    const mine = await check(request("you", PW.yes), ["id", "-u"], env, { uid: VUID, gid: VUID });
    expect(mine.code).toBe(0);
    expect(mine.stdout).toBe(`${VUID}\n`);
    expect((await check(request("me", PW.sha), ["id", "-u"], env, { uid: VUID, gid: VUID })).code).toBe(1);
  });

  test("an unreadable database is temporary trouble (111)", async () => {
    const r = await check(request("you", PW.yes), ["true"], { POPPIN_USERDB: join(dir, "missing.cdb") });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("checkpassword: fatal: unable to read");
  });
});

describe("checkpassword: secrets stay secret", () => {
  test("no password, secret or hash appears in any output", () => {
    expect(outputs.length).toBeGreaterThan(20);
    const all = outputs.join("\n");
    for (const secret of [...Object.values(PW), APOP_SECRET, "$y$", "$6$"]) expect(all).not.toContain(secret);
  });
});

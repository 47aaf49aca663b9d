import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cryptHash } from "../../mod/sys/crypt.ts";
import { POPPIN, requireTool, run } from "../helpers.ts";
import { ownTempDirs } from "./temp.ts";

const tempDir = ownTempDirs();

const users = (file: string, args: string[], stdin?: string, env: Record<string, string> = {}) =>
  run([POPPIN, "users", ...(file ? ["-f", file] : []), ...args], { stdin: stdin ?? "", env: { PATH: "/usr/bin:/bin", ...env } });

/** The crypt hash of `login` (the first word of the hash field; SCRAM keys follow it). */
function hashOf(file: string, login: string): string {
  return hashFieldOf(file, login).split(" ")[0];
}

function hashFieldOf(file: string, login: string): string {
  const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(`${login}:`))!;
  return line.split(":")[1];
}

describe("poppin users", () => {
  test("add, list, passwd, apop, del: text file and cdb rewritten, mode 0600, no temporary files left", () => {
    const dir = tempDir("users");
    const file = join(dir, "users");
    expect(users(file, ["add", "joe", "5000", "5000", "/var/mail/joe"], "first pw\n").code).toBe(0);
    expect(users(file, ["add", "--apop", "--sha512", "ann", "5001", "5002", "/var/mail/ann"], "ann pw\nann secret\n").code).toBe(0);
    expect(users(file, ["list"]).out).toBe("joe\t5000\t5000\t/var/mail/joe\tscram\nann\t5001\t5002\t/var/mail/ann\tapop\tscram\n");
    // SCRAM keys (SHA-1 and SHA-256, own salts, 4096 iterations) beside the hash; never the password.
    expect(hashFieldOf(file, "joe")).toMatch(/^\$y\$\S+ \{SCRAM-SHA-1\}4096,\S+ \{SCRAM-SHA-256\}4096,\S+$/);
    expect(readFileSync(file, "utf8")).not.toContain("first pw");
    const joe = hashOf(file, "joe");
    expect(joe).toStartWith("$y$");
    expect(cryptHash(Buffer.from("first pw"), joe)).toBe(joe);
    expect(hashOf(file, "ann")).toStartWith("$6$");
    expect(readFileSync(file, "utf8")).toContain(":/var/mail/ann:ann secret\n");

    const scram1 = hashFieldOf(file, "joe").split(" ")[2];
    expect(users(file, ["passwd", "joe"], "second pw\n").code).toBe(0);
    expect(hashFieldOf(file, "joe").split(" ")[2]).not.toBe(scram1);
    const joe2 = hashOf(file, "joe");
    expect(joe2).not.toBe(joe);
    expect(cryptHash(Buffer.from("second pw"), joe2)).toBe(joe2);

    expect(users(file, ["apop", "ann"], "\n").code).toBe(0);
    expect(users(file, ["list"]).out).toContain("ann\t5001\t5002\t/var/mail/ann\tscram\n");
    expect(users(file, ["del", "joe"]).code).toBe(0);
    expect(users(file, ["list"]).out).toBe("ann\t5001\t5002\t/var/mail/ann\tscram\n");

    for (const name of ["users", "users.cdb"]) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(["users", "users.cdb", "users.lock"]);
  });

  test("the cdb is byte-identical to Debian's cdbmake on the same records", () => {
    const cdbmake = requireTool("cdbmake");
    const dir = tempDir("users");
    const file = join(dir, "users");
    for (const [login, uid] of [["a", "5000"], ["b@example.org", "5001"], ["c", "5002"]]) {
      expect(users(file, ["add", login, uid, uid, `/var/mail/${login}`], "pw\n").code).toBe(0);
    }
    const records = readFileSync(file, "utf8").trimEnd().split("\n").map((line) => {
      const colon = line.indexOf(":");
      const key = Buffer.from(line.slice(0, colon));
      const data = Buffer.from(line.slice(colon + 1));
      return Buffer.concat([Buffer.from(`+${key.length},${data.length}:`), key, Buffer.from("->"), data, Buffer.from("\n")]);
    });
    const r = Bun.spawnSync([cdbmake, join(dir, "ref.cdb"), join(dir, "ref.tmp")], { stdin: Buffer.concat([...records, Buffer.from("\n")]) });
    expect(r.exitCode).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "ref.cdb")), readFileSync(`${file}.cdb`))).toBe(0);
  });

  test("POPPIN_USERDB names the file (users.cdb means the text file beside it); compile rebuilds the cdb", () => {
    const dir = tempDir("users");
    const env = { POPPIN_USERDB: join(dir, "db.cdb") };
    expect(users("", ["add", "joe", "5000", "5000", "/h"], "pw\n", env).code).toBe(0);
    expect(readFileSync(join(dir, "db"), "utf8")).toStartWith("joe:$y$");
    const before = readFileSync(join(dir, "db.cdb"));
    writeFileSync(join(dir, "db"), readFileSync(join(dir, "db"), "utf8") + "# comment\nmax:$6$x$y:7:7:/m\n");
    expect(users("", ["compile"], undefined, env).code).toBe(0);
    expect(readFileSync(join(dir, "db.cdb")).length).toBeGreaterThan(before.length);
  });

  test("refusals change nothing on disk and say why", () => {
    const dir = tempDir("users");
    const file = join(dir, "users");
    expect(users(file, ["add", "joe", "5000", "5000", "/h"], "pw\n").code).toBe(0);
    const text = readFileSync(file);
    const cdb = readFileSync(`${file}.cdb`);
    const cases: [string[], string | undefined, number, string][] = [
      [["add", "joe", "5000", "5000", "/h"], "pw\n", 100, "poppin users: fatal: user joe already exists\n"],
      [["add", "new", "5000", "5000", "/h"], "", 100, "poppin users: fatal: no password on standard input\n"],
      [["add", "new", "5000", "5000", "/h"], "\n", 100, "poppin users: fatal: empty password refused\n"],
      [["passwd", "nosuch"], "pw\n", 100, "poppin users: fatal: no such user: nosuch\n"],
      [["del", "nosuch"], undefined, 100, "poppin users: fatal: no such user: nosuch\n"],
      [["add", "new", "x", "5000", "/h"], "pw\n", 100, "poppin users: usage: UID must be a number\n"],
      [["add", "new", "5000", "5000", "relative"], "pw\n", 100, "poppin users: usage: HOME must be an absolute path without ':'\n"],
      [["add", "a:b", "5000", "5000", "/h"], "pw\n", 100, 'poppin users: usage: bad login "a:b": no \':\', newline, NUL or leading \'#\'\n'],
      [["add", "new", "5000", "5000", "/h", "password-on-argv"], "pw\n", 100, ""],
    ];
    for (const [args, stdin, code, stderr] of cases) {
      const r = users(file, args, stdin);
      expect(r.code).toBe(code);
      if (stderr) expect(r.stderr).toBe(stderr);
      else expect(r.stderr).toStartWith("poppin users: usage: poppin users [-f FILE]");
      expect(Buffer.compare(readFileSync(file), text)).toBe(0);
      expect(Buffer.compare(readFileSync(`${file}.cdb`), cdb)).toBe(0);
    }
    expect(readdirSync(dir).sort()).toEqual(["users", "users.cdb", "users.lock"]);
    const none = run([POPPIN, "users", "list"], { env: { PATH: "/usr/bin:/bin" } });
    expect(none.code).toBe(100);
    expect(none.stderr).toBe("poppin users: usage: no user file: give -f FILE or set POPPIN_USERDB\n");
  });

  test("a user file that does not exist is named (a mistyped -f), and only add makes it", () => {
    const dir = tempDir("users");
    const file = join(dir, "typo");
    for (const args of [["list"], ["compile"], ["del", "joe"], ["passwd", "joe"], ["apop", "joe"]]) {
      const r = users(file, args, "pw\n");
      expect(r.stderr).toBe(`poppin users: fatal: unable to read ${file}: file does not exist (poppin users -f ${file} add ... makes it)\n`);
      expect(r.code).toBe(111);
      expect(r.out).toBe("");
    }
    expect(readdirSync(dir)).toEqual([]);
    const viaCdb = users("", ["list"], undefined, { POPPIN_USERDB: `${file}.cdb` });
    expect(viaCdb.code).toBe(111);
    expect(viaCdb.stderr).toContain(`unable to read ${file}: file does not exist`);
    expect(users(file, ["add", "joe", "5000", "5000", "/h"], "pw\n").code).toBe(0);
    expect(users(file, ["list"]).out).toBe("joe\t5000\t5000\t/h\tscram\n");
  });

  test("a malformed text file is reported with its line number", () => {
    const dir = tempDir("users");
    const file = join(dir, "users");
    writeFileSync(file, "joe:h:1:2:/h\njoe:h:1:2\n");
    const r = users(file, ["list"]);
    expect(r.code).toBe(100);
    expect(r.stderr).toBe(`poppin users: fatal: unable to parse ${file}: line 2: expected login:hash:uid:gid:home[:apop-secret]\n`);
  });
});

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatUserFile, parseUserFile, parseUserLine, UserLineError } from "../../mod/auth/userdb_text.ts";
import { POPPIN, run, tempDir } from "../helpers.ts";

const SHA512 = "$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/";

describe("virtual-user text file", () => {
  test("a line with and without an APOP secret (which may contain ':')", () => {
    expect(parseUserLine("joe:$y$j9T$abc$def:5000:5001:/var/mail/vhosts/example.org/joe")).toEqual({
      login: "joe", hash: "$y$j9T$abc$def", uid: 5000, gid: 5001, home: "/var/mail/vhosts/example.org/joe", apopSecret: undefined,
    });
    expect(parseUserLine("ann:h:1:2:/h:se:cret")?.apopSecret).toBe("se:cret");
    expect(parseUserLine("ann:h:1:2:/h:")?.apopSecret).toBeUndefined();
  });

  test("comments and blank lines are kept through a rewrite", () => {
    const text = "# users\n\njoe:h:1:2:/h\n";
    expect(formatUserFile(parseUserFile(text))).toBe(text);
  });

  test("bad lines name their line number", () => {
    const bad = ["joe:h:1:2", "joe:h:x:2:/h", "joe:h:1:2:relative", ":h:1:2:/h", "joe:h:-1:2:/h", "joe:h:99999999999:2:/h"];
    for (const line of bad) expect(() => parseUserFile(`# ok\n${line}\n`)).toThrow("line 2");
    expect(() => parseUserFile("a:h:1:2:/h\na:h:1:2:/h\n")).toThrow(UserLineError);
  });

  test("lines copied from Dovecot's passwd-file: each mistake named; none becomes an account", () => {
    const cases: [string, string][] = [
      // As Dovecot writes it: the gecos field moves home to the sixth place.
      [`joe:{SHA512-CRYPT}${SHA512}:5000:5000::/home/joe::`, "line 1: home must be an absolute path: this line has Dovecot's passwd-file layout (user:password:uid:gid:gecos:home:shell:extra); poppin's is login:hash:uid:gid:home[:apop-secret]: remove the gecos field and the fields after home"],
      // The scheme prefix kept: crypt(3) would refuse every password, without a word.
      [`joe:{SHA512-CRYPT}${SHA512}:5000:5000:/home/joe`, "line 1: Dovecot's {SHA512-CRYPT} prefix before the hash: remove it (the crypt(3) hash after it works as it is)"],
      ["joe:{PLAIN}secret:5000:5000:/home/joe", "line 1: {PLAIN} is a Dovecot password scheme that crypt(3) cannot check: set the password again (poppin users passwd joe)"],
      // The gecos removed, the empty shell and extra fields left: ":" would be joe's APOP secret.
      [`joe:${SHA512}:5000:5000:/home/joe::`, "line 1: empty fields after home (Dovecot's shell and extra fields?): remove them; login:hash:uid:gid:home[:apop-secret] takes one field after home, the APOP secret"],
    ];
    for (const [line, message] of cases) expect(() => parseUserLine(line, 1)).toThrow(message);
    expect(parseUserLine(`joe:${SHA512}:5000:5000:/home/joe`, 1)?.apopSecret).toBeUndefined();
    // poppin users compile refuses the file and leaves no database behind.
    const dir = tempDir("dovecot-lines");
    for (const [line, message] of cases) {
      writeFileSync(join(dir, "users"), `${line}\n`);
      const r = run([POPPIN, "users", "-f", join(dir, "users"), "compile"]);
      expect([r.code, r.stderr]).toEqual([100, `poppin users: fatal: unable to parse ${join(dir, "users")}: ${message}\n`]);
      expect(existsSync(join(dir, "users.cdb"))).toBe(false);
    }
    expect(readFileSync(join(dir, "users"), "utf8")).toEndWith("::\n");
  });
});

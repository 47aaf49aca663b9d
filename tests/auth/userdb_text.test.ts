import { describe, expect, test } from "bun:test";
import { formatUserFile, parseUserFile, parseUserLine, UserLineError } from "../../mod/auth/userdb_text.ts";

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
});

/**
 * RFC 6856 (UTF8 capability and command) and RFC 8265 user names: a UTF-8 user added
 * with `poppin users` logs in with USER/PASS (after UTF8), with SCRAM, and in any
 * spelling of the name that RFC 8265 maps to the same one (case, width, NFC vs NFD).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { authenticate } from "../../mod/auth/authenticate.ts";
import { authConfigFromEnv } from "../../mod/auth/config.ts";
import { parseRequest } from "../../mod/auth/request.ts";
import { lookupVirtualUser } from "../../mod/auth/userdb.ts";
import { prepareUsername } from "../../mod/auth/username.ts";
import { newAuthorizationState } from "../../mod/pop3/authorization.ts";
import { authorizationSession } from "../../mod/pop3/session.ts";
import { cryptHash } from "../../mod/sys/crypt.ts";
import { POPPIN, run } from "../helpers.ts";
import { ownTempDirs } from "../auth/temp.ts";

const tempDir = ownTempDirs();

function talk(lines: string[]): string {
  const session = authorizationSession(newAuthorizationState(undefined));
  let out = "";
  for (const line of lines) {
    session.push(Buffer.from(`${line}\r\n`, "utf8"));
    const outcome = session.next();
    if (outcome?.reply) out += Buffer.from(outcome.reply).toString("utf8");
    if (outcome?.action?.kind === "authenticate") out += `[login ${Buffer.from(outcome.action.user).toString("utf8")}]`;
  }
  return out;
}

describe("UTF8 (RFC 6856)", () => {
  test("CAPA announces UTF8 USER; UTF8 answers +OK and takes no argument; a UTF-8 USER reaches the login as sent", () => {
    expect(talk(["CAPA"])).toContain("\r\nUTF8 USER\r\n");
    expect(talk(["UTF8", "UTF8 now", "USER jörg", "PASS pässwörd"])).toBe("+OK \r\n-ERR syntax error\r\n+OK \r\n[login jörg]");
  });
});

describe("AUTH PLAIN's authzid (RFC 4616) names the authcid's user as the user database compares names", () => {
  const plain = (authzid: string, authcid: string) => `AUTH PLAIN ${Buffer.from(`${authzid}\0${authcid}\0pw`, "utf8").toString("base64")}`;
  test("the same octets, another case or a decomposed spelling of the same name: the login is the authcid's", () => {
    expect(talk([plain("jörg", "jörg")])).toBe("[login jörg]");
    expect(talk([plain("JO\u0308RG", "jörg")])).toBe("[login jörg]");
    expect(talk([plain("", "jörg")])).toBe("[login jörg]");
  });
  test("another user, or octets that are not UTF-8 and differ: refused as acting as another user", () => {
    for (const [authzid, authcid] of [["bob", "jörg"], ["jörgen", "jörg"]]) {
      expect(talk([plain(authzid, authcid)])).toBe("-ERR [AUTH] invalid PLAIN response: acting as another user (authzid) is not supported\r\n");
    }
    const latin1 = `AUTH PLAIN ${Buffer.concat([Buffer.from([0xc4]), Buffer.from("\0\xe4\0pw", "latin1")]).toString("base64")}`;
    expect(talk([latin1])).toContain("acting as another user");
  });
});

describe("UTF-8 user names (RFC 8265 UsernameCaseMapped)", () => {
  test("case, width and composition map to one name", () => {
    const stored = "jörg";
    for (const spelling of ["Jörg", "JÖRG", "jo\u0308rg", "Ｊörg"]) expect(prepareUsername(spelling)).toBe(stored);
    expect(prepareUsername("demo")).toBe("demo");
  });

  test("users add stores the prepared name; every spelling finds it; a name as stored before is still found exactly", () => {
    const dir = tempDir("utf8");
    const file = join(dir, "users");
    expect(run([POPPIN, "users", "-f", file, "add", "JO\u0308RG", "5000", "5000", "/home/j"], { stdin: "pw\n" }).code).toBe(0);
    expect(Buffer.from(run([POPPIN, "users", "-f", file, "list"]).stdout).toString("utf8")).toStartWith("jörg\t5000");
    // The same user under another spelling is refused as a duplicate.
    const dup = run([POPPIN, "users", "-f", file, "add", "Jörg", "5001", "5001", "/home/k"], { stdin: "pw\n" });
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain("already exists");
    for (const db of [file, `${file}.cdb`]) {
      for (const spelling of ["jörg", "Jörg", "JÖRG", "jo\u0308rg"]) expect(lookupVirtualUser(db, Buffer.from(spelling))?.login).toBe("jörg");
      expect(lookupVirtualUser(db, Buffer.from("joerg"))).toBeUndefined();
    }
    expect(run([POPPIN, "users", "-f", file, "add", "a b", "5002", "5002", "/home/ab"], { stdin: "pw\n" }).stderr).toContain("space or control character");
    // passwd and del find the user under any spelling too.
    expect(run([POPPIN, "users", "-f", file, "passwd", "JÖRG"], { stdin: "new pw\n" }).code).toBe(0);
    expect(run([POPPIN, "users", "-f", file, "del", "Jörg"]).code).toBe(0);
    expect(lookupVirtualUser(file, Buffer.from("jörg"))).toBeUndefined();
  });

  test("checkpassword logs the user in under any spelling, as the stored name", () => {
    const dir = tempDir("utf8");
    const file = join(dir, "users");
    expect(run([POPPIN, "users", "-f", file, "add", "jörg", "5000", "5000", "/home/j"], { stdin: "pässwörd\n" }).code).toBe(0);
    const config = authConfigFromEnv({ POPPIN_MIN_UID: "0" }, `${file}.cdb`);
    const result = authenticate(parseRequest(Buffer.from("JÖRG\0pässwörd\0\0")), config, { euid: 0, today: 20000, crypt: (p, s) => cryptHash(p, s) });
    expect(result.account.login).toBe("jörg");
  });
});

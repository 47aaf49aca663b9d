/**
 * LANG (RFC 6856 section 3) in the engine: the listing, RFC 4647 lookup of a language range,
 * the syntax of a basic range, and the command in both states' tables with CAPA naming it.
 */
import { describe, expect, test } from "bun:test";
import { LANGUAGES, langCommand, lookupLanguage } from "../../mod/pop3/lang.ts";
import { newAuthorizationState } from "../../mod/pop3/authorization.ts";
import { authorizationSession } from "../../mod/pop3/session.ts";

const text = (arg: string) => Buffer.from(langCommand(Buffer.from(arg, "latin1")).reply!).toString("latin1");

describe("LANG", () => {
  test("no argument: a multi-line listing of tag and description, i-default first (RFC 2277)", () => {
    expect(text("")).toBe("+OK Language listing follows:\r\ni-default Default language\r\nen English\r\n.\r\n");
    expect(LANGUAGES[0]![0]).toBe("i-default");
  });

  test("a range is looked up (RFC 4647 3.4): case-insensitive, subtags dropped from the end, a singleton with the one after it", () => {
    expect(lookupLanguage("en")).toBe("en");
    expect(lookupLanguage("EN-gb")).toBe("en");
    expect(lookupLanguage("en-Latn-GB-x-private")).toBe("en");
    expect(lookupLanguage("I-DEFAULT")).toBe("i-default");
    expect(lookupLanguage("*")).toBe("i-default");
    expect(lookupLanguage("de")).toBeUndefined();
    expect(lookupLanguage("de-en")).toBeUndefined(); // "de-en" is German, never English
    expect(lookupLanguage("i")).toBeUndefined();
  });

  test("answers: the chosen tag first; an unknown language -ERR (not a bad command); a range that is not one a syntax error", () => {
    expect(text("en-US")).toBe("+OK en Language changed\r\n");
    expect(text("*")).toBe("+OK i-default Language changed\r\n");
    expect(text("fr")).toBe("-ERR unsupported language\r\n");
    expect(langCommand(Buffer.from("fr")).bad).toBeUndefined();
    for (const bad of ["en_GB", "toolonglanguage", "en-", "-en", "en--gb", "en gb", "é", "*-en"]) {
      expect(text(bad)).toBe("-ERR syntax error\r\n");
      expect(langCommand(Buffer.from(bad, "latin1")).bad).toBe(true);
    }
  });

  test("in the AUTHORIZATION state, with CAPA announcing it", () => {
    const session = authorizationSession(newAuthorizationState(undefined));
    let out = "";
    for (const line of ["CAPA", "LANG en", "lang"]) {
      session.push(Buffer.from(`${line}\r\n`));
      out += Buffer.from(session.next()!.reply!).toString("latin1");
    }
    expect(out).toContain("\r\nUTF8 USER\r\nLANG\r\n");
    expect(out).toContain(".\r\n+OK en Language changed\r\n+OK Language listing follows:\r\n");
  });
});

import { describe, expect, test } from "bun:test";
import { apopOffered, compatFrom, timeoutInvalid, timeoutMs } from "../../mod/pop3/config.ts";
import { logValue } from "../../mod/base/log_value.ts";

describe("POP3 settings from the environment", () => {
  test("POPPIN_TIMEOUT: whole positive seconds, else qmail's 1200", () => {
    expect(timeoutMs({})).toBe(1_200_000);
    expect(timeoutMs({ POPPIN_TIMEOUT: "30" })).toBe(30_000);
    for (const bad of ["0", "-5", "1.5", "10s", "", "9999999999"]) {
      expect(timeoutMs({ POPPIN_TIMEOUT: bad })).toBe(1_200_000);
    }
    expect(timeoutInvalid({ POPPIN_TIMEOUT: "10s" })).toBe(true);
    expect(timeoutInvalid({ POPPIN_TIMEOUT: "10" })).toBe(false);
    expect(timeoutInvalid({})).toBe(false);
  });

  test("APOP is offered only when a secret can verify it, or when forced", () => {
    expect(apopOffered({})).toBe(false);
    expect(apopOffered({ POPPIN_APOP_SECRETS: "/etc/poppin/apop" })).toBe(true);
    expect(apopOffered({ POPPIN_APOP_SECRETS: "" })).toBe(false);
    expect(apopOffered({ POPPIN_APOP: "1" })).toBe(true);
    expect(apopOffered({ POPPIN_APOP: "0", POPPIN_APOP_SECRETS: "/etc/poppin/apop" })).toBe(false);
  });

  test("compat: option over POPPIN_COMPAT; unknown values are refused", () => {
    expect(compatFrom(undefined, {})).toBe("rfc");
    expect(compatFrom(undefined, { POPPIN_COMPAT: "qmail" })).toBe("qmail");
    expect(compatFrom("rfc", { POPPIN_COMPAT: "qmail" })).toBe("rfc");
    expect(compatFrom("qmail", {})).toBe("qmail");
    expect(compatFrom("dovecot", {})).toBeUndefined();
  });

  test("log values cannot split or forge a log line", () => {
    expect(logValue("joe")).toBe("joe");
    expect(logValue(Buffer.from("a b\nc=d%\xff", "latin1"))).toBe("a%20b%0Ac=d%25%FF");
    expect(logValue("")).toBe("-");
  });
});

import { describe, expect, test } from "bun:test";
import { MalformedRequest, parseRequest } from "../../mod/auth/request.ts";

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

describe("checkpassword's fd-3 data (parsed as checkpassword.c does)", () => {
  test("login, password and timestamp", () => {
    const r = parseRequest(bytes("joe\0pw\0<1.2@host>\0"));
    expect([text(r.login), text(r.password), text(r.timestamp)]).toEqual(["joe", "pw", "<1.2@host>"]);
  });

  test("the timestamp and its NUL may be missing; an unterminated timestamp is taken as is", () => {
    expect(text(parseRequest(bytes("joe\0pw\0")).timestamp)).toBe("");
    expect(text(parseRequest(bytes("joe\0pw\0<ts>")).timestamp)).toBe("<ts>");
  });

  test("empty login and empty password are well-formed (the lookup refuses them)", () => {
    const r = parseRequest(bytes("\0\0"));
    expect(r.login.length).toBe(0);
    expect(r.password.length).toBe(0);
  });

  test("malformed: nothing, no NUL after login, nothing after login, password not terminated", () => {
    for (const bad of ["", "joe", "joe\0", "joe\0pw"]) {
      expect(() => parseRequest(bytes(bad))).toThrow(MalformedRequest);
    }
  });

  test("8-bit bytes survive", () => {
    const r = parseRequest(new Uint8Array([0xe9, 0, 0xff, 0x80, 0]));
    expect([...r.login]).toEqual([0xe9]);
    expect([...r.password]).toEqual([0xff, 0x80]);
  });
});

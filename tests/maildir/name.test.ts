import { describe, expect, test } from "bun:test";
import { curNameFor, escapeHost, isValidMessageName, sizesFromName, uidlOf, uniqueName, withSizes } from "../../mod/maildir/name.ts";

describe("maildir names", () => {
  test("UIDL is the name cut at the first ':' (qmail-pop3d printfn)", () => {
    expect(uidlOf("1700000000.M1P2.host,S=123,W=130:2,S")).toBe("1700000000.M1P2.host,S=123,W=130");
    expect(uidlOf("1700000000.123.host")).toBe("1700000000.123.host");
    expect(uidlOf("a:2,:b")).toBe("a");
    expect(uidlOf(":2,S")).toBe("");
  });

  test("flag changes and the new-to-cur move keep the UIDL", () => {
    const name = "1700000000.M1P2.host,S=5,W=6";
    expect(uidlOf(curNameFor(name))).toBe(uidlOf(name));
    expect(curNameFor(name)).toBe(name + ":2,");
    expect(uidlOf(curNameFor(name) + "RS")).toBe(name);
    expect(curNameFor("x:2,S")).toBe("x:2,S");
  });

  test("S= and W= are read from the unique part only", () => {
    expect(sizesFromName("1.M2P3.h,S=10,W=12:2,S")).toEqual({ fileSize: 10, crlfSize: 12 });
    expect(sizesFromName("1.M2P3.h,S=10:2,")).toEqual({ fileSize: 10 });
    expect(sizesFromName("1.M2P3.h,W=12")).toEqual({ crlfSize: 12 });
    expect(sizesFromName("1.M2P3.h:2,S=10,W=12")).toEqual({});
    expect(sizesFromName("1.M2P3.h,S=x,W=-1")).toEqual({});
    expect(sizesFromName("1.M2P3.h,S=,W=")).toEqual({});
  });

  test("host escaping as maildir(5) asks", () => {
    expect(escapeHost("a/b:c")).toBe("a\\057b\\072c");
    expect(escapeHost("plain.example")).toBe("plain.example");
    expect(uniqueName({ sec: 1700000000, usec: 42 }, 99, "h/o:st")).toBe("1700000000.M42P99.h\\057o\\072st");
    expect(withSizes("1.M2P3.h", 5, 7)).toBe("1.M2P3.h,S=5,W=7");
  });

  test("name validator refuses '/', NUL, leading '.', empty and over-long names", () => {
    expect(isValidMessageName("1700000000.M1P2.host:2,S")).toBe(true);
    for (const bad of ["", ".hidden", "a/b", "a\0b", "x".repeat(256)]) expect(isValidMessageName(bad)).toBe(false);
  });
});

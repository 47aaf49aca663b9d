import { describe, expect, test } from "bun:test";
import { shadowRefusal, daysSinceEpoch } from "../../mod/auth/shadow_policy.ts";
import type { ShadowEntry } from "../../mod/sys/libc.ts";

const entry = (fields: Partial<ShadowEntry>): ShadowEntry => ({
  name: "u", hash: "$6$x", lastChange: 19000, min: 0, max: 99999, warn: 7, inactive: -1, expire: -1, ...fields,
});

describe("shadow(5) expiry", () => {
  const today = 20000;
  test("a normal entry logs in", () => {
    expect(shadowRefusal(entry({}), today)).toBeUndefined();
    expect(shadowRefusal(entry({ lastChange: -1, max: -1 }), today)).toBeUndefined();
  });
  test("account expiry date: refused from that day on", () => {
    expect(shadowRefusal(entry({ expire: 20000 }), today)).toBe("account expired");
    expect(shadowRefusal(entry({ expire: 20001 }), today)).toBeUndefined();
  });
  test("lastchg 0 means the password must be changed first", () => {
    expect(shadowRefusal(entry({ lastChange: 0 }), today)).toBe("password must be changed");
  });
  test("password older than max days, and past the inactive period", () => {
    expect(shadowRefusal(entry({ lastChange: 19900, max: 100 }), today)).toBe("password expired");
    expect(shadowRefusal(entry({ lastChange: 19901, max: 100 }), today)).toBeUndefined();
    expect(shadowRefusal(entry({ lastChange: 19800, max: 100, inactive: 50 }), today)).toBe("password expired and inactive");
  });
  test("days since the epoch", () => {
    expect(daysSinceEpoch(new Date("1970-01-02T12:00:00Z"))).toBe(1);
  });
});

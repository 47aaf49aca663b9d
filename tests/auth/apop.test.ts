import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findSecret, looksLikeApopDigest, lookupApopSecretFile, verifyApop } from "../../mod/auth/apop.ts";
import { ownTempDirs } from "./temp.ts";

const tempDir = ownTempDirs();

const b = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

describe("APOP", () => {
  test("RFC 1939's example digest", () => {
    const ts = b("<1896.697170952@dbc.mtview.ca.us>");
    expect(verifyApop(ts, b("tanstaaf"), b("c4c9334bac560ecc979e58001b3e22fb"))).toBe(true);
    expect(verifyApop(ts, b("tanstaag"), b("c4c9334bac560ecc979e58001b3e22fb"))).toBe(false);
    expect(verifyApop(ts, b("tanstaaf"), b("C4C9334BAC560ECC979E58001B3E22FB"))).toBe(false);
  });

  test("a digest is exactly 32 lowercase hex digits", () => {
    expect(looksLikeApopDigest(b("c4c9334bac560ecc979e58001b3e22fb"))).toBe(true);
    expect(looksLikeApopDigest(b("C4C9334BAC560ECC979E58001B3E22FB"))).toBe(false);
    expect(looksLikeApopDigest(b("c4c9334bac560ecc979e58001b3e22f"))).toBe(false);
    expect(looksLikeApopDigest(b("c4c9334bac560ecc979e58001b3e22fbb"))).toBe(false);
    expect(looksLikeApopDigest(b("g4c9334bac560ecc979e58001b3e22fb"))).toBe(false);
  });

  test("secrets file: user:secret lines, CRLF tolerated, prefix names do not match", () => {
    const text = b("jo:nope\r\njoe:s:e:cret\r\njoel:other\n");
    expect(Buffer.from(findSecret(text, b("joe"))!).toString()).toBe("s:e:cret");
    expect(Buffer.from(findSecret(text, b("jo"))!).toString()).toBe("nope");
    expect(findSecret(text, b("jane"))).toBeUndefined();
  });

  test("secrets file must be 0600 or stricter", () => {
    const dir = tempDir("apop");
    const file = join(dir, "secrets");
    writeFileSync(file, "joe:tanstaaf\n", { mode: 0o600 });
    expect(Buffer.from(lookupApopSecretFile(file, b("joe"), 0)!).toString()).toBe("tanstaaf");
    chmodSync(file, 0o640);
    expect(() => lookupApopSecretFile(file, b("joe"), 0)).toThrow("mode 0640, must be 0600 or stricter");
    chmodSync(file, 0o400);
    expect(lookupApopSecretFile(file, b("joe"), 0)).toBeDefined();
    expect(() => lookupApopSecretFile(join(dir, "missing"), b("joe"), 0)).toThrow("unable to open APOP secrets");
    expect(createHash("md5").update("x").digest("hex")).toHaveLength(32);
  });
});

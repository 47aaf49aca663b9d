import { describe, expect, test } from "bun:test";
import { cryptHash, hashPassword, makeSetting } from "../../mod/sys/crypt.ts";

const b = (s: string) => Buffer.from(s, "latin1");

describe("libcrypt through bun:ffi", () => {
  test("sha512-crypt and sha256-crypt: Drepper's published vectors", () => {
    expect(cryptHash(b("Hello world!"), "$6$saltstring")).toBe(
      "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1");
    expect(cryptHash(b("Hello world!"), "$5$saltstring")).toBe("$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5");
  });

  test("md5-crypt matches openssl passwd -1", () => {
    expect(cryptHash(b("secret"), "$1$saltsalt$")).toBe("$1$saltsalt$9xy1btjgzLYfb7hivXtC//");
  });

  test("bcrypt: OpenBSD's vector, $2a$ and $2b$", () => {
    expect(cryptHash(b("U*U"), "$2a$05$CCCCCCCCCCCCCCCCCCCCC.")).toBe("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
    expect(cryptHash(b("U*U"), "$2b$05$CCCCCCCCCCCCCCCCCCCCC.")).toBe("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
  });

  test("yescrypt: a new hash verifies, a wrong password does not", () => {
    const hash = hashPassword(b("correct horse"), "yescrypt");
    expect(hash).toMatch(/^\$y\$j9T\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{43}$/);
    expect(cryptHash(b("correct horse"), hash)).toBe(hash);
    expect(cryptHash(b("correct horsf"), hash)).not.toBe(hash);
  });

  test("sha512 settings are fresh each time", () => {
    const a = makeSetting("sha512");
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}$/);
    expect(makeSetting("sha512")).not.toBe(a);
    expect(cryptHash(b("pw"), hashPassword(b("pw"), "sha512"))).toMatch(/^\$6\$/);
  });

  test("locked and invalid settings are failures (NULL or *0), never a hash", () => {
    for (const setting of ["!", "*", "", "!$6$saltstring", "$y$", "x"]) {
      expect(cryptHash(b("x"), setting)).toBeUndefined();
    }
  });

  test("password bytes go in as they are (8-bit)", () => {
    const h1 = cryptHash(Buffer.from([0xe9, 0x74, 0xe9]), "$6$saltstring");
    const h2 = cryptHash(Buffer.from("été", "utf8"), "$6$saltstring");
    expect(h1).toBeDefined();
    expect(h1).not.toBe(h2);
  });
});

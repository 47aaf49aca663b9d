/**
 * No timing signal from a login's answer: every attempt (right or wrong password, unknown
 * user, locked account, bad name, and a user refused by popup's policy lists) does the same
 * crypt work: one call per hash kind and cost of the decoy list, the account's own hash
 * standing in for the decoy of its class. Counted here by calls and cost classes, not by
 * the clock (bench/auth_timing.bench.ts measures the answer times).
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { authenticate } from "../../mod/auth/authenticate.ts";
import type { AuthConfig } from "../../mod/auth/config.ts";
import { parseRequest } from "../../mod/auth/request.ts";
import { DECOY_SETTINGS, checkHash, costClass, decoyCheck } from "../../mod/auth/verify.ts";
import { servePopup } from "../../mod/session/login_loop.ts";
import { cryptHash, hashPassword } from "../../mod/sys/crypt.ts";
import { ownTempDirs } from "./temp.ts";

const tempDir = ownTempDirs();
const PASSWORD = new Uint8Array(Buffer.from("right"));

/** The cost classes of the crypt calls one attempt makes, sorted. */
function classesOf(run: (crypt: (pw: Uint8Array, s: string) => string | undefined) => void): string[] {
  const seen: string[] = [];
  run((pw, setting) => {
    seen.push(costClass(setting));
    return cryptHash(pw, setting);
  });
  return seen.sort();
}

const EVERY_DECOY = DECOY_SETTINGS.map(costClass).sort();

describe("costClass", () => {
  test("kind and cost decide the class; the salt does not", () => {
    expect(costClass("$6$abc$xyz")).toBe("$6$rounds=5000");
    expect(costClass("$6$rounds=5000$abc$xyz")).toBe("$6$rounds=5000");
    expect(costClass("$6$rounds=80000$abc$xyz")).toBe("$6$rounds=80000");
    expect(costClass("$y$j9T$salt$hash")).toBe("$y$j9T");
    expect(costClass("$y$jDT$salt$hash")).toBe("$y$jDT");
    expect(costClass("$1$salt$hash")).toBe("$1$");
    expect(costClass("$2b$10$abcdefghijklmnopqrstuu")).toBe("$2b$10");
    expect(new Set(EVERY_DECOY).size).toBe(DECOY_SETTINGS.length);
  });

  test("every decoy is a hash libcrypt computes (none is refused, which would cost nothing)", () => {
    for (const setting of DECOY_SETTINGS) expect(cryptHash(PASSWORD, setting)).toMatch(/^\$/);
  });
});

describe("one attempt, one amount of work", () => {
  const hashes: Record<string, string> = {
    yescrypt: hashPassword(PASSWORD, "yescrypt"),
    sha512: hashPassword(PASSWORD, "sha512"),
    sha256: cryptHash(PASSWORD, "$5$abcdefghijklmnop")!,
    md5: cryptHash(PASSWORD, "$1$abcdefgh")!,
  };
  const dir = tempDir("timing");
  const db = join(dir, "users");
  writeFileSync(db, Object.entries(hashes).map(([name, h]) => `${name}:${h}:5000:5000:/var/mail/${name}\n`).join("") + `locked:!${hashes.sha512}:5000:5000:/var/mail/locked\n`);
  const config: AuthConfig = { userdb: db, minUid: 1000, apopSecretsFile: undefined, shadowFile: "/etc/shadow" };
  const attempt = (data: string, with_: AuthConfig = config) => classesOf((crypt) => {
    try {
      authenticate(parseRequest(new Uint8Array(Buffer.from(data, "latin1"))), with_, { euid: 0, today: 20000, crypt });
    } catch { /* refusals are what is measured */ }
  });

  test("a wrong password for each kind, a right one refused by a policy, an unknown user, a locked account, a bad name: the same classes", () => {
    const outside: AuthConfig = { ...config, homeBase: "/srv/no-home-is-here" }; // every home is outside: refused after the password
    for (const [name, hash] of Object.entries(hashes)) {
      expect(attempt(`${name}\0wrong\0`)).toEqual(EVERY_DECOY);
      expect(attempt(`${name}\0right\0`, outside)).toEqual(EVERY_DECOY);
      // A right password that logs in skips the decoys: its +OK tells what the timing could.
      expect(attempt(`${name}\0right\0`)).toEqual([costClass(hash)]);
    }
    expect(attempt("nosuch\0wrong\0")).toEqual(EVERY_DECOY);
    expect(attempt("locked\0right\0")).toEqual(EVERY_DECOY);
    expect(attempt("a/b\0right\0")).toEqual(EVERY_DECOY);
  });

  test("checkHash still tells right from wrong for every kind", () => {
    for (const hash of Object.values(hashes)) {
      expect(checkHash(PASSWORD, hash)).toBe(true);
      expect(checkHash(new Uint8Array(Buffer.from("wrong")), hash)).toBe(false);
    }
  });

  test("a hash of a cost outside the list costs its own check on top of every decoy (documented)", () => {
    const slow = cryptHash(PASSWORD, "$6$rounds=6000$abcdefghijklmnop")!;
    expect(classesOf((crypt) => checkHash(new Uint8Array(Buffer.from("wrong")), slow, crypt))).toEqual([...EVERY_DECOY, "$6$rounds=6000"].sort());
  });
});

describe("popup's policy refusals", () => {
  test("a user the policy refuses costs the decoy check, with the password given; an admitted one does not", async () => {
    const written: string[] = [];
    const decoys: string[] = [];
    let lines = ["USER joe\r\n", "PASS right\r\n", "USER ann\r\n", "PASS right\r\n", "QUIT\r\n"];
    const channel = {
      readToLineEnd(buf: Uint8Array): number {
        const line = lines.shift();
        if (line === undefined) return 0;
        buf.set(Buffer.from(line));
        return line.length;
      },
      write(bytes: Uint8Array) {
        written.push(Buffer.from(bytes).toString("latin1"));
      },
    };
    const end = await servePopup(channel, {
      timestamp: "<1.2@x>",
      offerApop: false,
      admit: ({ user }) => (Buffer.from(user).toString() === "joe" ? { refused: "not listed" } : { user }),
      decoy(password) {
        decoys.push(Buffer.from(password).toString());
        expect(classesOf((crypt) => decoyCheck(password, crypt))).toEqual(EVERY_DECOY);
      },
      authenticate: async () => ({ kind: "failed", failure: "rejected", detail: "checkpassword exit 1" }),
    });
    expect(end).toBe("quit");
    expect(decoys).toEqual(["right"]);
    expect(written.filter((w) => w.startsWith("-ERR"))).toEqual(["-ERR [AUTH] authorization failed\r\n", "-ERR [AUTH] authorization failed\r\n"]);
    lines = [];
  });
});

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { authenticate, type AuthEnvironment } from "../../mod/auth/authenticate.ts";
import type { AuthConfig } from "../../mod/auth/config.ts";
import { AuthRefused, parseRequest } from "../../mod/auth/request.ts";
import type { SystemDatabases } from "../../mod/auth/system_accounts.ts";
import { DECOY_SETTINGS, DUMMY_HASH, costClass } from "../../mod/auth/verify.ts";
import { cryptHash } from "../../mod/sys/crypt.ts";
import type { PasswdEntry, ShadowEntry } from "../../mod/sys/libc.ts";
import { ownTempDirs } from "./temp.ts";

const tempDir = ownTempDirs();

const SALT = "$6$rounds=1000$saltsaltsalt";
const hashOf = (pw: string) => cryptHash(Buffer.from(pw), SALT)!;

/** A passwd+shadow stand-in: name -> [uid, hash, shadow overrides]. */
function fakeNss(users: Record<string, [number, string, Partial<ShadowEntry>?]>): SystemDatabases {
  return {
    getpwnam(login) {
      const name = Buffer.from(login).toString();
      const u = users[name];
      return u ? ({ name, passwd: "x", uid: u[0], gid: u[0], gecos: "", dir: `/home/${name}`, shell: "/bin/sh" } satisfies PasswdEntry) : undefined;
    },
    getspnam(login) {
      const name = Buffer.from(login).toString();
      const u = users[name];
      return u ? { name, hash: u[1], lastChange: 19000, min: 0, max: 99999, warn: 7, inactive: -1, expire: -1, ...u[2] } : undefined;
    },
  };
}

/** The crypt calls a check makes: the account's own hash (if any), then a decoy of every other kind (mod/auth/verify.ts). */
function expectedCalls(own?: string): string[] {
  return own === undefined ? [...DECOY_SETTINGS] : [own, ...DECOY_SETTINGS.filter((d) => costClass(d) !== costClass(own))];
}

/** Counts crypt calls and the settings they used. */
function countingCrypt() {
  const settings: string[] = [];
  return {
    settings,
    crypt: (pw: Uint8Array, setting: string) => {
      settings.push(setting);
      return cryptHash(pw, setting.startsWith("$y$") ? SALT : setting); // keep the test fast: no yescrypt
    },
  };
}

const SYSTEM: AuthConfig = { userdb: undefined, minUid: 1000, apopSecretsFile: undefined, shadowFile: "/etc/shadow" };
const nss = fakeNss({
  joe: [1001, hashOf("right")],
  locked: [1002, `!${hashOf("right")}`],
  star: [1003, "*"],
  old: [1004, hashOf("right"), { lastChange: 100, max: 90 }],
  toor: [0, hashOf("right")],
  daemon: [2, hashOf("right")],
});

function attempt(data: string, config: AuthConfig = SYSTEM, env: Partial<AuthEnvironment> = {}) {
  const counter = countingCrypt();
  const request = parseRequest(new Uint8Array(Buffer.from(data, "latin1")));
  let result: ReturnType<typeof authenticate> | undefined;
  let error: unknown;
  try {
    result = authenticate(request, config, { euid: 0, today: 20000, system: nss, crypt: counter.crypt, ...env });
  } catch (err) {
    error = err;
  }
  return { result, error, calls: counter.settings };
}

describe("authenticate: system accounts", () => {
  test("right password: the account; one crypt call against the stored hash, no decoys (the +OK tells what the timing could)", () => {
    const a = attempt("joe\0right\0");
    expect(a.result?.account).toMatchObject({ login: "joe", uid: 1001, home: "/home/joe", source: "system" });
    expect(a.result?.method).toBe("password");
    expect(a.calls).toEqual([hashOf("right")]);
  });

  test("every refusal costs the same crypt calls as a check (unknown user: every decoy)", () => {
    const cases: [string, string][] = [
      ["joe\0wrong\0", hashOf("right")],
      ["nosuch\0right\0", DUMMY_HASH],
      ["locked\0right\0", hashOf("right")],
      ["star\0right\0", DUMMY_HASH],
      ["old\0right\0", hashOf("right")],
      ["toor\0right\0", hashOf("right")],
      ["daemon\0right\0", hashOf("right")],
    ];
    for (const [data, setting] of cases) {
      const a = attempt(data);
      expect(a.error).toBeInstanceOf(AuthRefused);
      expect(a.calls).toEqual(expectedCalls(setting === DUMMY_HASH ? undefined : setting));
    }
  });

  test("why: locked, expired, uid 0 and system uids are refused even with the right password", () => {
    expect((attempt("old\0right\0").error as Error).message).toBe("password expired");
    expect((attempt("toor\0right\0").error as Error).message).toContain("below POPPIN_MIN_UID 1000");
    expect((attempt("daemon\0right\0").error as Error).message).toContain("uid 2 below");
    expect(attempt("daemon\0right\0", { ...SYSTEM, minUid: 0 }).result?.account.uid).toBe(2);
    expect(attempt("toor\0right\0", { ...SYSTEM, minUid: 0 }).result?.account.uid).toBe(0);
  });

  test("not root: only our own uid may log in", () => {
    expect(attempt("joe\0right\0", SYSTEM, { euid: 1001 }).result?.account.uid).toBe(1001);
    expect((attempt("joe\0right\0", SYSTEM, { euid: 1005 }).error as Error).message).toContain("not ours");
  });
});

describe("authenticate: virtual users and APOP", () => {
  const dir = tempDir("auth");
  const db = join(dir, "users");
  writeFileSync(db, `joe:${hashOf("right")}:5000:5000:/var/mail/joe:tanstaaf\nann:${hashOf("right")}:5000:5000:/var/mail/ann\nroot:${hashOf("right")}:0:0:/root\n`);
  const VIRTUAL: AuthConfig = { ...SYSTEM, userdb: db };
  const ts = "<1896.697170952@dbc.mtview.ca.us>";
  const digest = (secret: string) => createHash("md5").update(ts + secret).digest("hex");

  test("password login from the text file; uid 5000 passes the default minimum (virtual: only uid 0 refused)", () => {
    const a = attempt("joe\0right\0<1.2@x>\0", VIRTUAL);
    expect(a.result?.account).toMatchObject({ login: "joe", uid: 5000, home: "/var/mail/joe", source: "virtual", shell: "/usr/sbin/nologin" });
    expect(a.result?.method).toBe("password");
    expect(attempt("root\0right\0", VIRTUAL).error).toBeInstanceOf(AuthRefused);
  });

  test("APOP: right digest logs in without a crypt call", () => {
    const a = attempt(`joe\0${digest("tanstaaf")}\0${ts}\0`, VIRTUAL);
    expect(a.result?.method).toBe("apop");
    expect(a.calls).toEqual([]);
  });

  test("APOP: wrong digest is refused after a password check's crypt calls (the field is also tried as a password)", () => {
    const a = attempt(`joe\0${digest("wrong")}\0${ts}\0`, VIRTUAL);
    expect(a.error).toBeInstanceOf(AuthRefused);
    expect(a.calls).toEqual(expectedCalls(hashOf("right")));
  });

  test("no APOP without a timestamp, for uppercase hex, or for a user without a secret", () => {
    expect(attempt(`joe\0${digest("tanstaaf")}\0\0`, VIRTUAL).error).toBeInstanceOf(AuthRefused);
    expect(attempt(`joe\0${digest("tanstaaf").toUpperCase()}\0${ts}\0`, VIRTUAL).error).toBeInstanceOf(AuthRefused);
    expect(attempt(`ann\0${digest("tanstaaf")}\0${ts}\0`, VIRTUAL).error).toBeInstanceOf(AuthRefused);
  });

  test("unknown virtual user: refused after every decoy crypt call", () => {
    const a = attempt("nobody\0right\0", VIRTUAL);
    expect(a.error).toBeInstanceOf(AuthRefused);
    expect(a.calls).toEqual([...DECOY_SETTINGS]);
  });
});

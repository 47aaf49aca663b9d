/**
 * POPPIN_HOME_BASE: when set, a virtual user whose home is not inside it (lexically, and
 * once symlinks are resolved) is refused with the right password; unset, homes are not
 * checked (the previous behaviour). (Relative homes never get this far: the user database refuses them.)
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { authenticate } from "../../mod/auth/authenticate.ts";
import { authConfigFromEnv } from "../../mod/auth/config.ts";
import { AuthRefused, parseRequest } from "../../mod/auth/request.ts";
import { tempDir } from "../helpers.ts";

const root = tempDir("homebase");
const base = join(root, "vmail");
mkdirSync(join(base, "joe"), { recursive: true });
mkdirSync(join(root, "elsewhere"), { recursive: true });
symlinkSync(join(root, "elsewhere"), join(base, "sneaky"));
const HASH = "$6$salt$fakehash";
const homes: Record<string, string> = {
  joe: join(base, "joe"),
  dotdot: `${base}/joe/../../elsewhere`,
  outside: join(root, "elsewhere"),
  prefix: `${base}-other/joe`,
  sneaky: join(base, "sneaky"),
  itself: base,
};
const userdb = join(root, "users");
writeFileSync(userdb, Object.entries(homes).map(([login, home]) => `${login}:${HASH}:5000:5000:${home}\n`).join(""));

/** A crypt that "matches" when given the stored hash as the password (the test's stand-in for libcrypt). */
const crypt = (password: Uint8Array, setting: string) => (Buffer.from(password).toString() === setting ? setting : "*0");

function login(name: string, env: Record<string, string>) {
  const config = authConfigFromEnv({ POPPIN_USERDB: userdb, ...env });
  return () => authenticate(parseRequest(new Uint8Array(Buffer.from(`${name}\0${HASH}\0`))), config, { euid: 0, today: 20000, crypt });
}

describe("POPPIN_HOME_BASE", () => {
  test("homes inside the base log in; outside, through '..', a longer prefix, via a symlink, or the base itself: refused", () => {
    const env = { POPPIN_HOME_BASE: base };
    expect(login("joe", env)().account.home).toBe(homes.joe);
    for (const name of ["dotdot", "outside", "prefix", "sneaky", "itself"]) {
      expect(login(name, env)).toThrow(AuthRefused);
    }
  });

  test("unset: homes are not checked", () => {
    for (const name of Object.keys(homes)) expect(login(name, {})().account.login).toBe(name);
  });
});

/**
 * POPPIN_HOME_BASE: when set, a virtual user whose home is not inside it (by its words at the
 * password check, and once links are resolved by the user's own process where the home is
 * entered) is refused with the right password; unset, homes are not
 * checked (the previous behaviour). (Relative homes never get this far: the user database refuses them.)
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { authenticate } from "../../mod/auth/authenticate.ts";
import { authConfigFromEnv } from "../../mod/auth/config.ts";
import { AccountRefused, AuthRefused, parseRequest } from "../../mod/auth/request.ts";
import { checkRealHome } from "../../mod/auth/home_base.ts";
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
  test("homes inside the base log in; outside, through '..', a longer prefix, or the base itself: refused by their words", () => {
    const env = { POPPIN_HOME_BASE: base };
    expect(login("joe", env)().account.home).toBe(homes.joe);
    for (const name of ["dotdot", "outside", "prefix", "itself"]) {
      expect(login(name, env)).toThrow(AuthRefused);
    }
  });

  test("a home that leads out of the base through a link: refused where the home is entered, not by the password check (root follows no link of the user's)", () => {
    const env = { POPPIN_HOME_BASE: base };
    const sneaky = login("sneaky", env)().account;
    expect(() => checkRealHome(sneaky, realpathSync(sneaky.home), base)).toThrow(AccountRefused);
    const joe = login("joe", env)().account;
    expect(() => checkRealHome(joe, realpathSync(joe.home), base)).not.toThrow();
    // System accounts are not under the base.
    expect(() => checkRealHome({ ...sneaky, source: "system" }, realpathSync(sneaky.home), base)).not.toThrow();
  });

  test("unset: homes are not checked", () => {
    for (const name of Object.keys(homes)) expect(login(name, {})().account.login).toBe(name);
  });
});

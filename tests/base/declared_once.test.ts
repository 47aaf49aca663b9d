import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ENV, envCheck, envStrict, envValue, optionVariable } from "../../mod/base/env.ts";
import { OPTION_SPECS } from "../../mod/policy/options.ts";

const MOD = join(import.meta.dir, "..", "..", "mod");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Lines of code (comments left out) matching `pattern`, outside `except`. */
function uses(pattern: RegExp, except: string): string[] {
  const found: string[] = [];
  for (const file of sources(MOD)) {
    const name = relative(MOD, file);
    if (name === except) continue;
    readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      if (/^\s*(\*|\/\/|\/\*)/.test(line)) return;
      if (pattern.test(line)) found.push(`${name}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

describe("declared once", () => {
  test("every POPPIN_* variable is named only in mod/base/env.ts", () => {
    expect(uses(/\.POPPIN_[A-Z]|\[["'`]POPPIN_|["'`]POPPIN_[A-Z_]*["'`$]/, "base/env.ts")).toEqual([]);
  });

  test("docs/configuration.md names every declared variable, and every POPPIN_* the docs name exists", () => {
    const docs = join(import.meta.dir, "..", "..", "docs");
    const page = readFileSync(join(docs, "configuration.md"), "utf8");
    expect(Object.values(ENV).map((v) => v.name).filter((name) => !page.includes(`\`${name}\``))).toEqual([]);
    // A variable a page names is declared in env.ts or is a login-policy option's variable.
    const known = new Set([...Object.values(ENV).map((v) => v.name), ...OPTION_SPECS.map((o) => o.env)]);
    const pages = readdirSync(docs).filter((f) => f.endsWith(".md")).map((f) => join(docs, f))
      .concat(readdirSync(join(docs, "man")).filter((f) => f.endsWith(".scd")).map((f) => join(docs, "man", f)));
    const unknown: string[] = [];
    for (const file of pages) {
      for (const m of readFileSync(file, "utf8").matchAll(/POPPIN_[A-Z0-9_]*[A-Z0-9]\b/g)) {
        // POPPIN_NAME is the pattern's placeholder; POPPIN_BIN belongs to the scripts (bench, fuzz).
        if (!known.has(m[0]) && m[0] !== "POPPIN_NAME" && m[0] !== "POPPIN_BIN") unknown.push(`${relative(docs, file)}: ${m[0]}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  test("every response code text ([IN-USE], [LOGIN-DELAY], [SYS/...], [AUTH]) is in mod/pop3/responses.ts only", () => {
    expect(uses(/["'`]\[(IN-USE|LOGIN-DELAY|SYS\/TEMP|SYS\/PERM|AUTH|UTF8)\]/, "pop3/responses.ts")).toEqual([]);
  });

  test("the variables parse as the programs always read them", () => {
    expect(envValue({ POPPIN_TIMEOUT: "5" }, ENV.timeout)).toBe(5);
    expect(envCheck({ POPPIN_TIMEOUT: "0" }, ENV.timeout)).toEqual({ value: 1200, bad: "0" });
    expect(envCheck({ POPPIN_TIMEOUT: "" }, ENV.timeout)).toEqual({ value: 1200 });
    expect(() => envStrict({ POPPIN_MIN_UID: "12x" }, ENV.minUid)).toThrow("POPPIN_MIN_UID must be a number, not 12x");
    expect(envStrict({}, ENV.minUid)).toBe(1000);
    expect(envCheck({ POPPIN_COMPAT: "dovecot" }, ENV.compat).bad).toBe("dovecot");
    expect(envValue({ POPPIN_APOP: "yes" }, ENV.apop)).toBeUndefined();
    expect(envValue({ POPPIN_LISTING_CACHE: "0" }, ENV.listingCache)).toBe(false);
    // popup's policy options carry the variable optionVariable names; the shared ones are ENV's.
    const byName = new Map(OPTION_SPECS.map((s) => [s.name, s.env]));
    expect(byName.get("timeout")).toBe(ENV.timeout.name);
    expect(byName.get("apop")).toBe(ENV.apop.name);
    expect(byName.get("min-uid")).toBe(ENV.minUid.name);
    expect(byName.get("config-file")).toBe(ENV.config.name);
    expect(optionVariable("auth-failure-delay")).toBe("POPPIN_AUTH_FAILURE_DELAY");
  });
});

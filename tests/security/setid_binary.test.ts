/**
 * An administrator sets the set-user-ID bit on poppin (as vchkpw is often installed, to let a
 * non-root popup run checkpassword; chmod on the checkpassword link changes the one binary
 * every applet is). Every applet would then run as root for any local user, with the user's
 * environment and arguments: `setuidgid root sh`, pop3d with POPPIN_BECOME=0:0. The test
 * plays that user against a set-user-ID root copy and a set-group-ID root copy: poppin
 * refuses to run at all, says why, and runs nothing.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";

const NOBODY = 65534;
const dir = tempDir("setid");
chmodSync(dir, 0o755);
const marker = join(dir, "ran");

function asNobody(binary: string, args: string[], env: Record<string, string> = {}) {
  return run(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", binary, ...args], {
    env: { PATH: "/usr/bin:/bin", ...env }, stdin: "QUIT\r\n", timeoutMs: 10_000,
  });
}

describe.each([["set-user-ID root", 0o4755, "effective uid 0 gid 65534"], ["set-group-ID root", 0o2755, "effective uid 65534 gid 0"]])("poppin installed %s", (_what, mode, effective) => {
  const binary = join(dir, `poppin-${mode.toString(8)}`);
  copyFileSync(POPPIN, binary);
  chmodSync(binary, mode);

  test("a local user's `setuidgid root` runs nothing as root", () => {
    const r = asNobody(binary, ["setuidgid", "root", "sh", "-c", `id -u > ${marker}`]);
    expect(r.code).toBe(111);
    expect(r.stderr).toBe(`poppin: fatal: poppin runs set-user-ID or set-group-ID (real uid ${NOBODY} gid ${NOBODY}, ${effective}), which would give anyone who runs it those rights: remove the bit (chmod u-s,g-s) and start the service as root instead\n`);
    expect(existsSync(marker)).toBe(false);
  });

  test("a local user's pop3d with POPPIN_BECOME=0:0 never starts", () => {
    const r = asNobody(binary, ["pop3d", "Maildir"], { POPPIN_BECOME: "0:0", USER: "root", HOME: dir });
    expect({ code: r.code, out: r.out }).toEqual({ code: 111, out: "" });
    expect(r.stderr).toStartWith("poppin: fatal: poppin runs set-user-ID or set-group-ID");
  });
});

test("the same binary without the bit runs for that user as before", () => {
  const plain = join(dir, "poppin-plain");
  copyFileSync(POPPIN, plain);
  chmodSync(plain, 0o755);
  expect(asNobody(plain, ["--version"]).code).toBe(0);
});

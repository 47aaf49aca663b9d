/**
 * Login names that can only be an attack (a '/', '..', control characters; NUL cannot come
 * through fd 3, it ends the field) are refused before any account database or file is
 * looked at: the library asks no database, and checkpassword pointed at a user database
 * that does not exist answers 1 (refused) for them where a plain name gets 111 (unable to read).
 */
import { describe, expect, test } from "bun:test";
import { authenticate } from "../../mod/auth/authenticate.ts";
import { AuthRefused, parseRequest } from "../../mod/auth/request.ts";
import type { SystemDatabases } from "../../mod/auth/system_accounts.ts";
import { applet, tempDir } from "../helpers.ts";
import { join } from "node:path";
import { DECOY_SETTINGS } from "../../mod/auth/verify.ts";

const HOSTILE = ["../etc/passwd", "a/b", "/root", "..", "joe\x01", "joe\ncat", "\x1b[31mred", "tab\tname", "del\x7f", ""];

function request(login: string, password = "pw"): ReturnType<typeof parseRequest> {
  return parseRequest(new Uint8Array(Buffer.from(`${login}\0${password}\0`, "latin1")));
}

describe("hostile login names", () => {
  test("refused before any database is asked (system accounts and a virtual-user file)", () => {
    const asked: string[] = [];
    const system: SystemDatabases = {
      getpwnam: (l) => { asked.push(`pw:${Buffer.from(l).toString("latin1")}`); return undefined; },
      getspnam: (l) => { asked.push(`sp:${Buffer.from(l).toString("latin1")}`); return undefined; },
    };
    let crypts = 0;
    const crypt = () => { crypts++; return undefined; };
    for (const login of HOSTILE) {
      for (const userdb of [undefined, "/nonexistent/poppin-users.cdb", "/nonexistent/poppin-users"]) {
        const config = { userdb, minUid: 1000, apopSecretsFile: undefined, shadowFile: "/nonexistent/shadow" };
        expect(() => authenticate(request(login), config, { euid: 0, today: 20000, crypt, system })).toThrow(AuthRefused);
      }
    }
    expect(asked).toEqual([]);
    // Still a whole check's crypt calls per attempt (a decoy of every kind): a refusal costs the same time whatever the reason.
    expect(crypts).toBe(HOSTILE.length * 3 * DECOY_SETTINGS.length);
    // A plain name does reach the database (so the check above is not vacuous).
    const config = { userdb: undefined, minUid: 1000, apopSecretsFile: undefined, shadowFile: "/nonexistent/shadow" };
    expect(() => authenticate(request("joe.smith"), config, { euid: 0, today: 20000, crypt, system })).toThrow(AuthRefused);
    expect(asked).toEqual(["pw:joe.smith"]);
  });

  test("checkpassword: exit 1 for hostile names without opening the user database; 111 for a plain name", async () => {
    const dir = tempDir("names");
    const userdb = join(dir, "missing", "users.cdb");
    // The data on fd 3 from a file, as djb's interface allows.
    const runWith = (login: string) => {
      const data = Buffer.from(`${login}\0secret\0`, "latin1").toString("base64");
      const r = Bun.spawnSync(["sh", "-c", `printf %s "$D" | base64 -d > "$F"; "$C" --userdb="$U" true 3< "$F"`], {
        env: { D: data, F: join(dir, "fd3"), C: applet("checkpassword"), U: userdb, PATH: "/usr/bin:/bin" },
        timeout: 10_000,
      });
      return { code: r.exitCode, stderr: r.stderr.toString() };
    };
    const plain = runWith("joe");
    expect(plain.code).toBe(111);
    expect(plain.stderr).toContain("missing");
    for (const login of HOSTILE.filter((l) => l !== "")) {
      const r = runWith(login);
      expect({ login, code: r.code, stderr: r.stderr }).toEqual({ login, code: 1, stderr: "" });
    }
  });
});

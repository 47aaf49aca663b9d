/**
 * What the popup applet offers, as a process: SCRAM only when its chain is poppin's
 * checkpassword with a user database; OAUTHBEARER/XOAUTH2 only when OAuth is configured and
 * the checkpassword is poppin's (a foreign one could not take the token beside fd 3).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { ownTempDirs } from "../auth/temp.ts";

const tempDir = ownTempDirs();

function capa(chain: string[], env: Record<string, string>): string {
  const r = run([POPPIN, "popup", "pop.example", ...chain], { stdin: "CAPA\r\nQUIT\r\n", env: { PATH: "/usr/bin:/bin", TCPREMOTEIP: "127.0.0.1", ...env } });
  return /\r\nSASL[^\r]*\r\n/.exec(r.out)?.[0].trim() ?? "(no SASL line)";
}

describe("the popup applet's SASL line", () => {
  const dir = tempDir("offer");
  const userdb = join(dir, "users");
  expect(run([POPPIN, "users", "-f", userdb, "add", "joe", "5000", "5000", "/home/joe"], { stdin: "pw\n" }).code).toBe(0);
  const ours = [POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
  const oauth = { POPPIN_OAUTH_JWKS: join(dir, "jwks.json") };

  test("system accounts: PLAIN only; a user database: SCRAM too (POPPIN_USERDB or --userdb)", () => {
    expect(capa(ours, {})).toBe("SASL PLAIN");
    expect(capa(ours, { POPPIN_USERDB: `${userdb}.cdb` })).toBe("SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-1");
    expect(capa([POPPIN, "checkpassword", `--userdb=${userdb}.cdb`, POPPIN, "pop3d", "Maildir"], {})).toBe("SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-1");
  });

  test("OAuth configured: OAUTHBEARER and XOAUTH2; a foreign checkpassword gets neither SCRAM nor tokens", () => {
    expect(capa(ours, { POPPIN_USERDB: `${userdb}.cdb`, ...oauth })).toBe("SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-1 OAUTHBEARER XOAUTH2");
    expect(capa(["/bin/true"], { POPPIN_USERDB: `${userdb}.cdb`, ...oauth })).toBe("SASL PLAIN");
  });
});

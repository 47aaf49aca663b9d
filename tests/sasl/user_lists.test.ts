/**
 * nonauth-file against the names the user database resolves: it finds "DEMO", "Demo" and a
 * decomposed or full-width name as the stored one (RFC 8265), so a listed user must not get
 * in by typing the name another way, with any mechanism, in the classic chain or --inline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exchange } from "./wire.ts";
import { admitUser } from "../../mod/policy/user_policy.ts";
import { makeBox, startService, PASSWORD, type Service } from "../tls/harness.ts";
import { ownTempDirs } from "../auth/temp.ts";

const tempDir = ownTempDirs();
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const services: Record<string, Service> = {};
/** The same hosts with an auth-file that disappears once they run. */
const broken: Record<string, Service> = {};

beforeAll(async () => {
  const box = makeBox(); // the user "demo"
  const denied = join(box.root, "denied");
  writeFileSync(denied, "# no mail for these\ndemo\n");
  const popupArgs = [`--nonauth-file=${denied}`];
  services.classic = await startService(box, { popupArgs });
  services.inline = await startService(box, { popupArgs, serveArgs: ["--inline"] });
  const allowed = join(box.root, "allowed");
  writeFileSync(allowed, "demo\n");
  broken.classic = await startService(box, { popupArgs: [`--auth-file=${allowed}`] });
  broken.inline = await startService(box, { popupArgs: [`--auth-file=${allowed}`], serveArgs: ["--inline"] });
  unlinkSync(allowed);
});

afterAll(async () => {
  for (const s of [...Object.values(services), ...Object.values(broken)]) await s.stop();
});

describe("nonauth-file and the names the user database resolves", () => {
  test("a listed user is refused whichever case it types, with USER/PASS and PLAIN, in both hosts", async () => {
    for (const [host, s] of Object.entries(services)) {
      for (const name of ["demo", "DEMO", "Demo"]) {
        const answer = await exchange(s.port, [`USER ${name}`, `PASS ${PASSWORD}`, `AUTH PLAIN ${b64(`\0${name}\0${PASSWORD}`)}`]);
        expect(answer, `${host} ${name}`).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
      }
      expect(s.log()).toContain("user=DEMO mech=PLAIN why=listed%20in%20nonauth-file");
    }
  });

  test("decomposed, full-width and upper-case forms of a listed name are refused; other names and non-UTF-8 names are not", () => {
    const dir = tempDir("lists");
    const file = join(dir, "denied");
    writeFileSync(file, "jörg\nＡnn\n");
    const policy = { downcaseUser: false, trimDomain: false, authFile: undefined, nonauthFile: file };
    const admit = (name: string | Uint8Array) => admitUser(typeof name === "string" ? Buffer.from(name, "utf8") : name, policy);
    for (const name of ["jörg", "JÖRG", "jo\u0308rg", "ann", "ANN", "Ａnn"]) expect(admit(name), name).toEqual({ refused: `listed in nonauth-file ${file}` });
    for (const name of ["joerg", "anne"]) expect("user" in admit(name), name).toBe(true);
    expect("user" in admit(new Uint8Array([0x6a, 0xf6, 0x72, 0x67]))).toBe(true); // latin-1 "jörg": another name
  });

  test("an auth-file that cannot be read is the server's trouble: [SYS/TEMP] with every mechanism, a temporary-failure line fail2ban does not match", async () => {
    const scramFirst = b64("n,,n=demo,r=abcdefghijklmnop");
    for (const [host, s] of Object.entries(broken)) {
      const answer = await exchange(s.port, [`USER demo`, `PASS ${PASSWORD}`, `AUTH PLAIN ${b64(`\0demo\0${PASSWORD}`)}`, `AUTH SCRAM-SHA-256 ${scramFirst}`]);
      const temp = "-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n";
      expect(answer, host).toBe(`+OK \r\n+OK \r\n${temp}${temp}${temp}+OK \r\n`);
      const log = s.log();
      for (const mech of ["USER", "PLAIN", "SCRAM-SHA-256"]) expect(log).toMatch(new RegExp(`warning: authorization temporary failure rip=127\\.0\\.0\\.1 user=demo mech=${mech} why=unable%20to%20read%20user%20list%20`));
      expect(log).not.toContain("authorization failed");
    }
  });
});

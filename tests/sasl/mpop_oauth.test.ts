/**
 * mpop logs in with OAUTHBEARER and XOAUTH2 (the token as its password) and downloads the
 * mailbox, through the classic chain (popup -> a separate checkpassword, the token beside
 * fd 3), the classic chain in one process (popup checks the token itself) and serve --inline;
 * a bad token gets RFC 7628's error JSON, then -ERR [AUTH].
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync } from "node:fs";
import { runMpop, type MpopRun } from "./mpop_run.ts";
import { join } from "node:path";
import { requireTool } from "../helpers.ts";
import { USER, boxCount, canonical, corpus, deliver, emptyBox, makeBox, makeCertificate, startService, type Box, type Certificate, type Service } from "../tls/harness.ts";
import { AUDIENCE, ISSUER, makeSigner, mint, writeJwks, type Signer } from "./oauth_fixtures.ts";

let box: Box;
let signer: Signer;
let cert: Certificate;
const services: Record<string, Service> = {};

beforeAll(async () => {
  requireTool("mpop");
  box = makeBox();
  signer = await makeSigner("ES256", "k1");
  const jwksDir = join(box.root, "oauth");
  mkdirSync(jwksDir, { mode: 0o755 });
  const jwks = writeJwks(jwksDir, [signer]);
  chmodSync(jwks, 0o644);
  cert = makeCertificate("127.0.0.1");
  const env = { POPPIN_OAUTH_JWKS: jwks, POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE, CERTFILE: cert.cert, KEYFILE: cert.key };
  const uid = process.getuid!() === 0 ? ["-u", "12345", "-g", "12345"] : [];
  if (uid.length > 0) chmodSync(box.userdb, 0o644);
  services.classic = await startService(box, { env: { ...env, POPPIN_ONE_PROCESS: "0" } });
  services["one-process"] = await startService(box, { env });
  services.inline = await startService(box, { serveArgs: ["--inline", ...uid], env });
});

afterAll(async () => {
  for (const s of Object.values(services)) await s?.stop();
});

function mpop(port: number, auth: string, token: string, starttls = false): Promise<MpopRun> {
  return runMpop({ port, auth, user: USER, password: token, tls: starttls ? "starttls" : "off", trustFile: cert.cert });
}

for (const host of ["classic", "one-process", "inline"] as const) {
  describe(`mpop with bearer tokens through the ${host} chain`, () => {
    for (const [auth, mech] of [["oauthbearer", "OAUTHBEARER"], ["xoauth2", "XOAUTH2"]] as const) {
      test(`${auth}: a valid JWT downloads every message byte-identical`, async () => {
        emptyBox(box);
        deliver(box, corpus());
        const r = await mpop(services[host].port, auth, await mint(signer));
        expect(r.code).toBe(0);
        expect(r.transcript).toContain(`AUTH ${mech}`);
        expect(r.messages.sort()).toEqual(corpus().map(canonical).sort());
        expect(boxCount(box)).toBe(0);
      });
    }

    test("oauthbearer over STLS (popup relays TLS for the chain; the token still reaches checkpassword)", async () => {
      emptyBox(box);
      deliver(box, corpus());
      const r = await mpop(services[host].port, "oauthbearer", await mint(signer), true);
      expect(r.code).toBe(0);
      expect(r.transcript).toContain("STLS");
      expect(r.messages.sort()).toEqual(corpus().map(canonical).sort());
    });

    test("an expired token: the error JSON challenge, then -ERR [AUTH]; logged with mech=; mail kept", async () => {
      emptyBox(box);
      deliver(box, corpus());
      const r = await mpop(services[host].port, "oauthbearer", await mint(signer, {}, { exp: Math.floor(Date.now() / 1000) - 300 }));
      expect(r.code).not.toBe(0);
      expect(r.transcript).toContain(`+ ${Buffer.from('{"status":"invalid_token"}').toString("base64")}`);
      expect(r.transcript).toContain("-ERR [AUTH] authorization failed");
      expect(boxCount(box)).toBe(corpus().length);
      expect(services[host].log()).toMatch(/authorization failed rip=127\.0\.0\.1 user=demo mech=OAUTHBEARER/);
    });

    test("a token for another user does not open this mailbox", async () => {
      const r = await mpop(services[host].port, "xoauth2", await mint(signer, { email: "someone-else" }));
      expect(r.code).not.toBe(0);
      expect(r.transcript).toContain("-ERR [AUTH] authorization failed");
    });
  });
}

/**
 * A bearer login the user lists refuse costs what a token check costs: the token is checked
 * (its verdict unused) before the same answer as an invalid token's, so the time of the answer
 * does not tell which users auth-file admits; an address over its failure limit is refused
 * without asking the issuer. Played against an RFC 7662 endpoint that counts the requests, in
 * the classic chain and serve --inline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exchange } from "./wire.ts";
import { servePopup, type PopupChannel } from "../../mod/session/login_loop.ts";
import { bearerExchange } from "../../mod/sasl/oauthbearer.ts";
import { makeBox, makeCertificate, startService, type Service } from "../tls/harness.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const INVALID_TOKEN = `+ ${b64('{"status":"invalid_token"}')}\r\n`;
const asked: string[] = [];
let endpoint: ReturnType<typeof Bun.serve>;
const services: Record<string, Service> = {};

beforeAll(async () => {
  const cert = makeCertificate("localhost");
  endpoint = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    tls: { cert: readFileSync(cert.cert, "utf8"), key: readFileSync(cert.key, "utf8") },
    async fetch(req) {
      asked.push(new URLSearchParams(await req.text()).get("token") ?? "");
      return Response.json({ active: false });
    },
  });
  const box = makeBox(); // the user "demo"
  const allowed = join(box.root, "allowed");
  writeFileSync(allowed, "ann\n");
  const env = { POPPIN_OAUTH_INTROSPECTION_URL: `https://localhost:${endpoint.port}/introspect`, POPPIN_OAUTH_CA_FILE: cert.cert };
  const popupArgs = [`--auth-file=${allowed}`];
  services.classic = await startService(box, { env, popupArgs });
  services.inline = await startService(box, { env, popupArgs, serveArgs: ["--inline"] });
});

afterAll(async () => {
  for (const s of Object.values(services)) await s.stop();
  endpoint?.stop(true);
});

describe("a bearer login the policy refuses", () => {
  test("an unlisted user's token is still checked with the issuer, then refused exactly as an invalid token is, in both hosts", async () => {
    for (const [host, s] of Object.entries(services)) {
      asked.length = 0;
      const refused = await exchange(s.port, [`AUTH OAUTHBEARER ${b64(`n,a=demo,\x01auth=Bearer unlisted-${host}\x01\x01`)}`, "AQ=="]);
      const invalid = await exchange(s.port, [`AUTH OAUTHBEARER ${b64(`n,a=ann,\x01auth=Bearer listed-${host}\x01\x01`)}`, "AQ=="]);
      expect(refused, host).toBe(`+OK \r\n${INVALID_TOKEN}-ERR [AUTH] authorization failed\r\n+OK \r\n`);
      expect(invalid, host).toBe(refused);
      expect(asked, host).toEqual([`unlisted-${host}`, `listed-${host}`]);
      expect(s.log()).toContain("authorization failed rip=127.0.0.1 user=demo mech=OAUTHBEARER why=not%20listed%20in%20auth-file");
    }
  });

  test("the driver: a list's refusal runs the token decoy; an address over its limit and a temporary refusal do not", async () => {
    for (const [verdict, expected] of [
      [{ refused: "not listed in auth-file" }, ["tok"]],
      [{ refused: "too many failed logins from this address", address: true }, []],
      [{ refused: "unable to read user list", temporary: true }, []],
    ] as const) {
      const decoys: string[] = [];
      const lines = [`AUTH OAUTHBEARER ${b64("n,a=demo,\x01auth=Bearer tok\x01\x01")}`, "AQ==", "QUIT"];
      const channel: PopupChannel = {
        write() {},
        readToLineEnd(buf) {
          const next = lines.shift();
          if (next === undefined) return 0;
          const bytes = Buffer.from(`${next}\r\n`);
          buf.set(bytes);
          return bytes.length;
        },
      };
      await servePopup(channel, {
        timestamp: "<1.2@test>", offerApop: false, bearer: bearerExchange,
        admit: () => verdict,
        decoy: (_password, login) => void decoys.push(login?.bearer ?? "password"),
        authenticate: async () => ({ kind: "served" }),
      });
      expect(decoys, verdict.refused).toEqual([...expected]);
    }
  });
});

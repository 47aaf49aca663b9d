import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bearerTokenUser, IntrospectionCache, oauthConfigFromEnv, type OAuthConfig } from "../../mod/auth/oauth.ts";
import { authenticateWithBearer } from "../../mod/auth/bearer_login.ts";
import { BearerExchange, formatBearerForm, parseBearerForm, parseOAuthBearer, parseXOAuth2 } from "../../mod/sasl/oauthbearer.ts";
import { makeCertificate } from "../tls/harness.ts";
import { ownTempDirs } from "../auth/temp.ts";
import { AUDIENCE, ISSUER, makeSigner, mint, writeJwks, type Signer } from "./oauth_fixtures.ts";

const tempDir = ownTempDirs();
let signers: Signer[];
let stranger: Signer;
let jwt: OAuthConfig;

beforeAll(async () => {
  signers = [await makeSigner("RS256", "rsa1"), await makeSigner("ES256", "ec1"), await makeSigner("EdDSA", "ed1")];
  stranger = await makeSigner("ES256", "ec1"); // same kid, other key: a forged signature
  jwt = oauthConfigFromEnv({ POPPIN_OAUTH_JWKS: writeJwks(tempDir("jwks"), signers), POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE })!;
});

describe("bearer tokens as JWTs against a local JWKS", () => {
  test("valid tokens signed with RS256, ES256 and EdDSA name the user from the claim", async () => {
    for (const s of signers) expect(await bearerTokenUser(await mint(s), jwt)).toBe("demo");
    expect(await bearerTokenUser(await mint(signers[0], { preferred_username: "ann" }), { ...jwt, userClaim: "preferred_username" })).toBe("ann");
  });

  test("expired, not yet valid, wrong audience, wrong issuer, bad signature, unknown kid, no exp: refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    const s = signers[1];
    const cases: [string, Promise<string>][] = [
      ["expired", mint(s, {}, { exp: now - 120 })],
      ["not yet valid", mint(s, {}, { nbf: now + 600 })],
      ["wrong audience", mint(s, {}, { aud: "other.example" })],
      ["wrong issuer", mint(s, {}, { iss: "https://evil.example" })],
      ["bad signature", mint(stranger)],
      ["unknown kid", mint(s, {}, { kid: "nope" })],
    ];
    for (const [name, token] of cases) {
      await expect(bearerTokenUser(await token, jwt), name).rejects.toThrow(/token refused/);
    }
    const noClaim = await mint(s, { email: undefined });
    await expect(bearerTokenUser(noClaim, jwt)).rejects.toThrow("no email claim");
    // An HS256 token made with the public key as secret (algorithm confusion) is not accepted.
    const parts = (await mint(s)).split(".");
    const confused = `${Buffer.from(JSON.stringify({ alg: "HS256", kid: "ec1" })).toString("base64url")}.${parts[1]}.${parts[2]}`;
    await expect(bearerTokenUser(confused, jwt)).rejects.toThrow(/token refused/);
  });

  test("a key set replaced (renamed over) or rewritten in place is used from the next token on", async () => {
    const dir = tempDir("jwks-rotate");
    const [a, b] = [await makeSigner("ES256", "old"), await makeSigner("ES256", "new")];
    const config = oauthConfigFromEnv({ POPPIN_OAUTH_JWKS: writeJwks(dir, [a]), POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE })!;
    const [tokenA, tokenB] = [await mint(a), await mint(b)];
    expect(await bearerTokenUser(tokenA, config)).toBe("demo");
    await expect(bearerTokenUser(tokenB, config)).rejects.toThrow(/token refused/);
    // Rotated by a rename (a new inode): only the new key is trusted.
    const fresh = writeJwks(tempDir("jwks-next"), [b]);
    renameSync(fresh, config.jwksFile!);
    expect(await bearerTokenUser(tokenB, config)).toBe("demo");
    await expect(bearerTokenUser(tokenA, config)).rejects.toThrow(/token refused/);
    // Rewritten in place (the same inode): read again too.
    writeFileSync(config.jwksFile!, JSON.stringify({ keys: [a.jwk] }));
    expect(await bearerTokenUser(tokenA, config)).toBe("demo");
    await expect(bearerTokenUser(tokenB, config)).rejects.toThrow(/token refused/);
    // Gone: a temporary failure, not a refusal.
    unlinkSync(config.jwksFile!);
    await expect(bearerTokenUser(tokenA, config)).rejects.toThrow(/unable to read JWKS/);
  });

  test("a key set another user could write is not trusted (whoever writes it signs for anyone): a temporary failure naming why", async () => {
    const dir = tempDir("jwks-perm");
    const config = oauthConfigFromEnv({ POPPIN_OAUTH_JWKS: writeJwks(dir, signers), POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE })!;
    const token = await mint(signers[0]);
    chmodSync(config.jwksFile!, 0o644);
    expect(await bearerTokenUser(token, config)).toBe("demo");
    chmodSync(config.jwksFile!, 0o664);
    await expect(bearerTokenUser(token, config)).rejects.toThrow(`refusing JWKS ${config.jwksFile}: mode 0664, writable by group or others`);
    chmodSync(config.jwksFile!, 0o646);
    await expect(bearerTokenUser(token, config)).rejects.toThrow("writable by group or others");
    chmodSync(config.jwksFile!, 0o644);
    const other = process.geteuid!() === 0 ? 12345 : undefined;
    if (other !== undefined) {
      chownSync(config.jwksFile!, other, other);
      await expect(bearerTokenUser(token, config)).rejects.toThrow(`refusing JWKS ${config.jwksFile}: owned by uid ${other}`);
      chownSync(config.jwksFile!, 0, 0);
    }
    await expect(bearerTokenUser(token, { ...config, jwksFile: dir })).rejects.toThrow("not a regular file");
  });

  test("settings: an http:// endpoint and a bad timeout are usage errors; nothing set means no OAuth", () => {
    expect(oauthConfigFromEnv({})).toBeUndefined();
    expect(() => oauthConfigFromEnv({ POPPIN_OAUTH_INTROSPECTION_URL: "http://x/" })).toThrow("https://");
    expect(() => oauthConfigFromEnv({ POPPIN_OAUTH_JWKS: "/x", POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE, POPPIN_OAUTH_TIMEOUT: "soon" })).toThrow("POPPIN_OAUTH_TIMEOUT");
  });
});

/** An RS256 token signed with signers[0] whatever its header and claims say (jose's signer refuses some on purpose). */
async function rawRs256(header: object, claims: object): Promise<string> {
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", signers[0].privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString("base64url")}`;
}

describe("hostile token issuers and clients (JWT)", () => {
  test("a JWKS without a required issuer and audience is a usage error: a token issued to another client of the same issuer would log in", async () => {
    expect(() => oauthConfigFromEnv({ POPPIN_OAUTH_JWKS: jwt.jwksFile, POPPIN_OAUTH_ISSUER: ISSUER })).toThrow("POPPIN_OAUTH_AUDIENCE must be set with POPPIN_OAUTH_JWKS");
    expect(() => oauthConfigFromEnv({ POPPIN_OAUTH_JWKS: jwt.jwksFile, POPPIN_OAUTH_AUDIENCE: AUDIENCE })).toThrow("POPPIN_OAUTH_ISSUER must be set with POPPIN_OAUTH_JWKS");
    // Introspection alone needs neither (the endpoint answers for its own tokens).
    expect(oauthConfigFromEnv({ POPPIN_OAUTH_INTROSPECTION_URL: "https://idp.example/introspect" })?.audience).toBeUndefined();
  });

  test("alg none, a real HS256 signature keyed with the public key, an unknown crit header, a nested JWT, kid confusion: refused", async () => {
    const s = signers[0];
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const claims = enc({ email: "demo", iss: ISSUER, aud: AUDIENCE, exp: now + 600 });
    const none = `${enc({ alg: "none" })}.${claims}.`;
    const { createHmac } = await import("node:crypto");
    const hsInput = `${enc({ alg: "HS256", kid: "rsa1" })}.${claims}`;
    const hs = `${hsInput}.${createHmac("sha256", JSON.stringify(s.jwk)).update(hsInput).digest("base64url")}`;
    const { SignJWT } = await import("jose");
    const sign = (header: Record<string, unknown>, signer = s) => new SignJWT({ email: "demo" }).setProtectedHeader({ alg: signer.alg, kid: signer.kid, ...header })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime(now + 600).sign(signer.privateKey);
    const crit = await rawRs256({ alg: "RS256", kid: "rsa1", crit: ["x-must"], "x-must": 1 }, { email: "demo", iss: ISSUER, aud: AUDIENCE, exp: now + 600 });
    const nested = await sign({ cty: "JWT" });
    // kid naming the RSA key, signed with the EdDSA key.
    const confused = await sign({ kid: "rsa1" }, signers[2]);
    for (const [name, token] of [["none", none], ["HS256", hs], ["crit", crit], ["confused kid", confused]] as const) {
      await expect(bearerTokenUser(token, jwt), name).rejects.toThrow(/token refused/);
    }
    // A nested JWT is only its outer token: its payload is the claims, and the user must be in them.
    expect(await bearerTokenUser(nested, jwt)).toBe("demo");
  });

  test("exp and nbf at the edge of the 30 s tolerance; iss and aud arrays; a user claim that is not a non-empty string", async () => {
    const s = signers[1];
    const now = Math.floor(Date.now() / 1000);
    expect(await bearerTokenUser(await mint(s, {}, { exp: now - 20 }), jwt)).toBe("demo");
    await expect(bearerTokenUser(await mint(s, {}, { exp: now - 40 }), jwt)).rejects.toThrow(/token refused/);
    expect(await bearerTokenUser(await mint(s, {}, { nbf: now + 20 }), jwt)).toBe("demo");
    await expect(bearerTokenUser(await mint(s, {}, { nbf: now + 40 }), jwt)).rejects.toThrow(/token refused/);
    const claims = (over: object) => rawRs256({ alg: "RS256", kid: "rsa1" }, { email: "demo", iss: ISSUER, aud: AUDIENCE, exp: now + 600, ...over });
    expect(await bearerTokenUser(await claims({ aud: ["other.example", AUDIENCE] }), jwt)).toBe("demo");
    await expect(bearerTokenUser(await claims({ aud: ["other.example"] }), jwt)).rejects.toThrow(/token refused/);
    await expect(bearerTokenUser(await claims({ iss: [ISSUER] }), jwt)).rejects.toThrow(/token refused/);
    await expect(bearerTokenUser(await claims({ exp: undefined }), jwt)).rejects.toThrow(/token refused/);
    // An address the issuer says it has not verified names nobody; true or absent is fine.
    await expect(bearerTokenUser(await mint(s, { email_verified: false }), jwt)).rejects.toThrow("email is not verified");
    expect(await bearerTokenUser(await mint(s, { email_verified: true }), jwt)).toBe("demo");
    expect(await bearerTokenUser(await mint(s, { email_verified: false, preferred_username: "ann" }), { ...jwt, userClaim: "preferred_username" })).toBe("ann");
    for (const email of [42, ["demo"], "", { user: "demo" }]) {
      await expect(bearerTokenUser(await mint(s, { email }), jwt), JSON.stringify(email)).rejects.toThrow("no email claim");
    }
  });
});

describe("bearer tokens by RFC 7662 introspection over HTTPS", () => {
  let server: ReturnType<typeof Bun.serve>;
  let config: OAuthConfig;
  const hits: string[] = [];

  beforeAll(() => {
    const cert = makeCertificate("localhost");
    server = Bun.serve({
      hostname: "127.0.0.1", port: 0,
      tls: { cert: readFileSync(cert.cert, "utf8"), key: readFileSync(cert.key, "utf8") },
      async fetch(req) {
        const form = new URLSearchParams(await req.text());
        const token = form.get("token") ?? "";
        hits.push(`${req.headers.get("authorization")} ${token}`);
        if (token === "slow") await Bun.sleep(3000);
        if (token === "huge" || token === "drip") {
          // "huge": 70 KB at once, then nothing more (the connection stays open); "drip": a few octets every 100 ms, for ever.
          let timer: ReturnType<typeof setInterval> | undefined;
          const body = new ReadableStream({
            start(ctl) {
              if (token === "huge") ctl.enqueue(new TextEncoder().encode(`{"active":true,"username":"demo","pad":"${"x".repeat(70_000)}`));
              else timer = setInterval(() => ctl.enqueue(new TextEncoder().encode("    ")), 100);
            },
            cancel() {
              clearInterval(timer);
            },
          });
          return new Response(body, { headers: { "content-type": "application/json" } });
        }
        if (token === "redirect") return Response.redirect(`https://localhost:${server.port}/elsewhere`, 302);
        if (token === "status") return new Response("down", { status: 503 });
        if (token === "html") return new Response("<html>", { headers: { "content-type": "text/html" } });
        if (token === "nouser") return Response.json({ active: true, exp: Math.floor(Date.now() / 1000) + 600 });
        if (token === "null") return new Response("null", { headers: { "content-type": "application/json" } });
        if (token === "announced") return new Response(`{"active":true,"username":"demo"}${" ".repeat(70_000)}`, { headers: { "content-type": "application/json" } });
        const now = Math.floor(Date.now() / 1000);
        const answers: Record<string, object> = {
          good: { active: true, username: "demo", exp: now + 600, aud: AUDIENCE, iss: ISSUER },
          inactive: { active: false },
          other: { active: true, username: "demo", aud: "other.example" },
          expired: { active: true, username: "demo", exp: now - 600 },
        };
        return Response.json(answers[token] ?? { active: false });
      },
    });
    config = oauthConfigFromEnv({
      POPPIN_OAUTH_INTROSPECTION_URL: `https://localhost:${server.port}/introspect`, POPPIN_OAUTH_CA_FILE: cert.cert,
      POPPIN_OAUTH_AUDIENCE: AUDIENCE, POPPIN_OAUTH_CLIENT_ID: "pop", POPPIN_OAUTH_CLIENT_SECRET: "s3cret", POPPIN_OAUTH_TIMEOUT: "0.5",
    })!;
  });
  afterAll(() => server?.stop(true));

  test("active: the user; asked once, then answered from the cache", async () => {
    const cache = new IntrospectionCache();
    hits.length = 0;
    expect(await bearerTokenUser("good", config, cache)).toBe("demo");
    expect(await bearerTokenUser("good", config, cache)).toBe("demo");
    expect(hits).toEqual([`Basic ${Buffer.from("pop:s3cret").toString("base64")} good`]);
    // Past the cache's life the endpoint is asked again.
    expect(await bearerTokenUser("good", config, cache, Date.now() + 61_000)).toBe("demo");
    expect(hits.length).toBe(2);
  });

  test("inactive, another audience, expired: refused (and not cached)", async () => {
    const cache = new IntrospectionCache();
    await expect(bearerTokenUser("inactive", config, cache)).rejects.toThrow("token inactive");
    await expect(bearerTokenUser("other", config, cache)).rejects.toThrow("another audience");
    await expect(bearerTokenUser("expired", config, cache)).rejects.toThrow("expired");
    expect(cache.size).toBe(0);
  });

  test("an endpoint that does not answer in time is a temporary failure", async () => {
    const started = Date.now();
    await expect(bearerTokenUser("slow", config, new IntrospectionCache())).rejects.toThrow("did not answer within 0.5 s");
    expect(Date.now() - started).toBeLessThan(2500);
  });

  test("a hostile endpoint: an answer over 64 KB is refused as soon as it passes the limit, a dripping one at the timeout, a non-object as a temporary failure", async () => {
    const slowConfig = { ...config, timeoutMs: 3000 };
    let started = Date.now();
    await expect(bearerTokenUser("huge", slowConfig, new IntrospectionCache())).rejects.toThrow("introspection answer larger than 65536 octets");
    expect(Date.now() - started).toBeLessThan(2500);
    await expect(bearerTokenUser("announced", config, new IntrospectionCache())).rejects.toThrow("introspection answer larger than 65536 octets");
    started = Date.now();
    await expect(bearerTokenUser("drip", config, new IntrospectionCache())).rejects.toThrow("did not answer within 0.5 s");
    expect(Date.now() - started).toBeLessThan(2500);
    await expect(bearerTokenUser("null", config, new IntrospectionCache())).rejects.toThrow("introspection answer is not a JSON object");
    await expect(bearerTokenUser("html", config, new IntrospectionCache())).rejects.toThrow("introspection answer is not JSON");
    await expect(bearerTokenUser("status", config, new IntrospectionCache())).rejects.toThrow("introspection endpoint answered 503");
    // A redirect is not followed (the token would go to another URL).
    hits.length = 0;
    await expect(bearerTokenUser("redirect", config, new IntrospectionCache())).rejects.toThrow("introspection failed");
    expect(hits.length).toBe(1);
    // active without the user claim: a refusal, not a login of nobody.
    await expect(bearerTokenUser("nouser", config, new IntrospectionCache())).rejects.toThrow("token has no username claim");
  });

  test("trust anchors another user could write are refused (they could answer for the endpoint)", async () => {
    const dir = tempDir("ca-perm");
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, readFileSync(config.caFile!));
    chmodSync(ca, 0o666);
    await expect(bearerTokenUser("good", { ...config, caFile: ca }, new IntrospectionCache())).rejects.toThrow(`refusing trust anchors ${ca}: mode 0666, writable by group or others`);
    chmodSync(ca, 0o644);
    expect(await bearerTokenUser("good", { ...config, caFile: ca }, new IntrospectionCache())).toBe("demo");
  });

  test("an endpoint whose certificate is not trusted is refused (temporary)", async () => {
    await expect(bearerTokenUser("good", { ...config, caFile: undefined }, new IntrospectionCache())).rejects.toThrow("introspection failed");
  });
});

describe("OAUTHBEARER and XOAUTH2 messages", () => {
  test("parsing: the user and the token; malformed messages refused", () => {
    expect(parseOAuthBearer("n,a=demo,\x01host=pop.example\x01port=110\x01auth=Bearer abc.def-ghi\x01\x01")).toEqual({ ok: true, value: { user: "demo", token: "abc.def-ghi" } });
    expect(parseXOAuth2("user=demo\x01auth=Bearer tok\x01\x01")).toEqual({ ok: true, value: { user: "demo", token: "tok" } });
    for (const bad of ["", "n,a=demo,\x01auth=Basic x\x01\x01", "n,,\x01auth=Bearer t\x01\x01", "p=tls-exporter,a=demo,\x01auth=Bearer t\x01\x01", "n,a=demo,\x01auth=Bearer t\x01", "n,a=demo,\x01auth=Bearer t t\x01\x01"]) {
      expect(parseOAuthBearer(bad).ok).toBe(false);
    }
    expect(parseXOAuth2("user=demo\x01auth=Bearer tok\x01").ok).toBe(false);
    // A key twice: a proxy in front might read the other one.
    expect(parseOAuthBearer("n,a=demo,\x01auth=Bearer one\x01auth=Bearer two\x01\x01")).toEqual({ ok: false, why: "auth= given twice" });
    expect(parseXOAuth2("user=demo\x01user=root\x01auth=Bearer tok\x01\x01")).toEqual({ ok: false, why: "user= given twice" });
    expect(parseXOAuth2("user=demo\x01auth=Bearer one\x01auth=Bearer two\x01\x01")).toEqual({ ok: false, why: "auth= given twice" });
  });

  test("the fd-3 form names the token by digest, never the token; the failure challenge is RFC 7628's JSON", () => {
    const step = new BearerExchange("OAUTHBEARER").step(Buffer.from("n,a=demo,\x01auth=Bearer secret-token\x01\x01"));
    if (step.kind !== "done") throw new Error(step.kind);
    expect(Buffer.from(step.password).toString()).not.toContain("secret-token");
    expect(parseBearerForm(step.password)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(step.bearer).toBe("secret-token");
    expect(JSON.parse(Buffer.from(step.failureChallenge!).toString())).toEqual({ status: "invalid_token" });
    const x = new BearerExchange("XOAUTH2").step(Buffer.from("user=demo\x01auth=Bearer t\x01\x01"));
    expect(x.kind === "done" && JSON.parse(Buffer.from(x.failureChallenge!).toString())).toEqual({ status: "401", schemes: "bearer" });
  });
});

describe("checkpassword's bearer decision (authenticateWithBearer)", () => {
  const request = (password: Uint8Array) => ({ login: Buffer.from("demo"), password, timestamp: Buffer.from("<1@h>"), raw: new Uint8Array(0) });
  const config = { userdb: "/nonexistent.cdb", minUid: 0, apopSecretsFile: undefined, shadowFile: "/etc/shadow" };
  const env = { euid: 0, today: 20000 };

  test("the form without the token beside it (PASS {OAUTHBEARER}..., a foreign popup), or with another token: refused", async () => {
    const vars = { POPPIN_OAUTH_JWKS: jwt.jwksFile, POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE };
    const token = await mint(signers[0]);
    const never = () => { throw new Error("password path taken"); };
    await expect(authenticateWithBearer(request(formatBearerForm(token)), config, env, vars, undefined, never)).rejects.toThrow("no bearer token matches");
    await expect(authenticateWithBearer(request(formatBearerForm(token)), config, env, vars, `${token}x`, never)).rejects.toThrow("no bearer token matches");
    await expect(authenticateWithBearer(request(formatBearerForm(token)), config, env, {}, token, never)).rejects.toThrow("no bearer token matches");
  });

  test("an ordinary password goes the password way, untouched", async () => {
    let called = false;
    await authenticateWithBearer(request(Buffer.from("plain password")), config, env, {}, undefined, () => {
      called = true;
      return { account: { login: "demo", uid: 1, gid: 1, home: "/", shell: "", hash: undefined, source: "virtual" }, method: "password" };
    });
    expect(called).toBe(true);
  });
});

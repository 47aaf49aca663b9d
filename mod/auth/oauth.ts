/**
 * Bearer tokens (OAUTHBEARER, RFC 7628; XOAUTH2) checked by checkpassword: as a JWT
 * against a local JWKS file (RS256, ES256, EdDSA; iss, aud, exp and nbf checked), or by
 * an RFC 7662 introspection endpoint over HTTPS (with a timeout and a small cache of
 * positive answers). JWT and JWKS handling is the `jose` library's (no dependencies,
 * WebCrypto only, maintained by an author of the JOSE specifications): no hand-written
 * signature code here. Settings come from the environment, like all of checkpassword's:
 *   POPPIN_OAUTH_JWKS            JWKS file (JSON), for JWT validation
 *   POPPIN_OAUTH_ISSUER          required `iss` (JWT: must be set; introspection: when the answer names one)
 *   POPPIN_OAUTH_AUDIENCE        required `aud` (JWT: must be set; introspection: when the answer names one)
 *   POPPIN_OAUTH_USER_CLAIM      the claim naming the user (default: email for JWTs, username for introspection)
 *   POPPIN_OAUTH_INTROSPECTION_URL   https:// endpoint (RFC 7662)
 *   POPPIN_OAUTH_CLIENT_ID, POPPIN_OAUTH_CLIENT_SECRET   HTTP basic credentials for it
 *   POPPIN_OAUTH_CA_FILE         PEM trust anchors for the endpoint (default: the system's)
 *   POPPIN_OAUTH_TIMEOUT         seconds for an introspection request (default 5)
 */
import { ENV, envStrict, envValue } from "../base/env.ts";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import type { JSONWebKeySet } from "jose";
import { TempError, UsageError, describeSysError } from "../base/errors.ts";
import { AuthRefused } from "./request.ts";

export interface OAuthConfig {
  jwksFile?: string;
  issuer?: string;
  audience?: string;
  userClaim?: string;
  introspectionUrl?: string;
  clientId?: string;
  clientSecret?: string;
  caFile?: string;
  timeoutMs: number;
}

const ALGORITHMS = ["RS256", "ES256", "EdDSA"];
/** Clock skew allowed on exp and nbf (seconds). */
const CLOCK_TOLERANCE = 30;
/** Introspection answers kept, and for how long at most (RFC 7662 section 4 allows caching up to exp). */
const CACHE_ENTRIES = 256;
const CACHE_MS = 60_000;
/** Bound on an introspection answer. */
const MAX_ANSWER = 64 * 1024;


/** The settings, or undefined when neither a JWKS file nor an endpoint is configured (no OAuth). */
export function oauthConfigFromEnv(env: NodeJS.ProcessEnv): OAuthConfig | undefined {
  const jwksFile = envValue(env, ENV.oauthJwks);
  const introspectionUrl = envValue(env, ENV.oauthIntrospectionUrl);
  if (jwksFile === undefined && introspectionUrl === undefined) return undefined;
  if (introspectionUrl !== undefined && !introspectionUrl.startsWith("https://")) {
    throw new UsageError(`${ENV.oauthIntrospectionUrl.name} must be ${ENV.oauthIntrospectionUrl.expected}, not ${introspectionUrl}`);
  }
  // RFC 9068 section 4: a JWT access token is ours only if its iss is our issuer's and its aud
  // names us. Keys alone do not say it: an issuer signs the tokens of all its clients (and, for
  // a multi-tenant one, of all its tenants) with the same keys.
  if (jwksFile !== undefined) {
    for (const needed of [ENV.oauthIssuer, ENV.oauthAudience]) {
      if (envValue(env, needed) === undefined) throw new UsageError(`${needed.name} must be set with ${ENV.oauthJwks.name}: without it a token issued to another client would log in`);
    }
  }
  const timeout = envStrict(env, ENV.oauthTimeout);
  return {
    jwksFile, introspectionUrl,
    issuer: envValue(env, ENV.oauthIssuer),
    audience: envValue(env, ENV.oauthAudience),
    userClaim: envValue(env, ENV.oauthUserClaim),
    clientId: envValue(env, ENV.oauthClientId),
    clientSecret: envValue(env, ENV.oauthClientSecret),
    caFile: envValue(env, ENV.oauthCaFile),
    timeoutMs: timeout * 1000,
  };
}

export { bearerConfigured } from "../sasl/bearer_names.ts";

/** How a token is named on fd 3 (never the token itself): base64url SHA-256. */
export function tokenDigest(token: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(token).digest().toString("base64url");
}

function claimUser(claims: Record<string, unknown>, claim: string): string {
  const user = claims[claim];
  if (typeof user !== "string" || user === "") throw new AuthRefused(`token has no ${claim} claim`);
  // OpenID Connect: an issuer that lets users type their own address says so with
  // email_verified false; such an address names nobody (it may be someone else's).
  if (claim === "email" && claims.email_verified === false) throw new AuthRefused("token's email is not verified");
  return user;
}

type LocalKeys = ReturnType<typeof import("jose").createLocalJWKSet>;
/**
 * The JWKS last read, with the file's identity then (device, inode, size, change times): a
 * long-running server (serve --inline) imports each public key once instead of at every token,
 * and picks up a new key set as soon as the file is replaced or rewritten.
 */
let jwksCache: { identity: string; keys: LocalKeys } | undefined;
/** Bound on a JWKS file (a key set is a few KB). */
const MAX_JWKS = 1 << 20;

/**
 * A file checkpassword (root) trusts for logins, read through one descriptor after checking it:
 * a regular file owned by root or by us, writable by nobody else, at most `max` octets (as the
 * APOP secrets). Whoever can write the key set signs tokens for any user; whoever can write the
 * trust anchors can answer for the introspection endpoint. Otherwise a TempError names why.
 * `use` gets the file's identity and reads the text only if it needs to (it may hold that version).
 */
function readTrustedFile<T>(path: string, what: string, euid: number, max: number, use: (read: () => string, identity: string) => T): T {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new TempError(`unable to read ${what} ${path}: ${describeSysError(err)}`);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw new TempError(`refusing ${what} ${path}: not a regular file`);
    if ((Number(st.mode) & 0o022) !== 0) throw new TempError(`refusing ${what} ${path}: mode ${(Number(st.mode) & 0o777).toString(8).padStart(4, "0")}, writable by group or others`);
    if (Number(st.uid) !== euid && st.uid !== 0n) throw new TempError(`refusing ${what} ${path}: owned by uid ${st.uid}`);
    if (st.size > BigInt(max)) throw new TempError(`refusing ${what} ${path}: larger than ${max} bytes`);
    const identity = `${path}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    return use(() => readFileSync(fd, "utf8"), identity);
  } catch (err) {
    if (err instanceof TempError) throw err;
    throw new TempError(`unable to read ${what} ${path}: ${describeSysError(err)}`);
  } finally {
    closeSync(fd);
  }
}

function localKeys(path: string, create: (jwks: JSONWebKeySet) => LocalKeys, euid: number): LocalKeys {
  return readTrustedFile(path, "JWKS", euid, MAX_JWKS, (read, identity) => {
    if (jwksCache?.identity !== identity) {
      const text = read();
      let jwks: JSONWebKeySet;
      try {
        jwks = JSON.parse(text) as JSONWebKeySet;
      } catch {
        throw new TempError(`unable to read JWKS ${path}: not JSON`);
      }
      jwksCache = { identity, keys: create(jwks) };
    }
    return jwksCache.keys;
  });
}

async function verifyJwt(token: string, config: OAuthConfig): Promise<string> {
  // jose is loaded by the first token it checks: a start that checks none (the classic chain's
  // popup for every USER/PASS, APOP or SCRAM login) does not evaluate it.
  const { createLocalJWKSet, errors, jwtVerify } = await import("jose");
  const keys = localKeys(config.jwksFile!, createLocalJWKSet, process.geteuid?.() ?? 0);
  try {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ALGORITHMS, issuer: config.issuer, audience: config.audience, clockTolerance: CLOCK_TOLERANCE, requiredClaims: ["exp"],
    });
    return claimUser(payload, config.userClaim ?? "email");
  } catch (err) {
    if (err instanceof AuthRefused) throw err;
    if (err instanceof errors.JOSEError) throw new AuthRefused(`token refused: ${err.code}`);
    throw err;
  }
}

/** Positive introspection answers by token digest (bounded; oldest dropped first). */
export class IntrospectionCache {
  readonly #entries = new Map<string, { user: string; until: number }>();
  get(digest: string, now: number): string | undefined {
    const hit = this.#entries.get(digest);
    if (hit === undefined) return undefined;
    if (hit.until <= now) {
      this.#entries.delete(digest);
      return undefined;
    }
    return hit.user;
  }
  put(digest: string, user: string, until: number): void {
    if (this.#entries.size >= CACHE_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(digest, { user, until });
  }
  get size(): number {
    return this.#entries.size;
  }
}

const sharedCache = new IntrospectionCache();

/**
 * The body of `response`, read until `limit` octets at most: a larger answer (announced or
 * sent) is refused as soon as it passes the limit, never held whole (serve --inline is one
 * process for every connection).
 */
async function boundedText(response: Response, limit: number): Promise<string> {
  const tooLarge = () => new TempError(`introspection answer larger than ${limit} octets`);
  if (Number(response.headers.get("content-length") ?? 0) > limit) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function introspect(token: string, config: OAuthConfig, cache: IntrospectionCache, now: number): Promise<string> {
  const digest = tokenDigest(token);
  const cached = cache.get(digest, now);
  if (cached !== undefined) return cached;
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (config.clientId !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret ?? "")}`).toString("base64")}`;
  }
  let answer: Record<string, unknown>;
  try {
    const ca = config.caFile === undefined ? undefined : readTrustedFile(config.caFile, "trust anchors", process.geteuid?.() ?? 0, MAX_JWKS, (read) => read());
    const response = await fetch(config.introspectionUrl!, {
      method: "POST", headers, body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
      signal: AbortSignal.timeout(config.timeoutMs), redirect: "error",
      ...(ca === undefined ? {} : { tls: { ca } }),
    } as RequestInit);
    if (!response.ok) {
      await response.body?.cancel();
      throw new TempError(`introspection endpoint answered ${response.status}`);
    }
    const parsed: unknown = JSON.parse(await boundedText(response, MAX_ANSWER));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new TempError("introspection answer is not a JSON object");
    answer = parsed as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TempError) throw err;
    const name = (err as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") throw new TempError(`introspection endpoint did not answer within ${config.timeoutMs / 1000} s`);
    if (err instanceof SyntaxError) throw new TempError("introspection answer is not JSON");
    throw new TempError(`introspection failed: ${(err as Error)?.message ?? String(err)}`);
  }
  if (answer.active !== true) throw new AuthRefused("token inactive");
  const seconds = now / 1000;
  if (typeof answer.exp === "number" && answer.exp + CLOCK_TOLERANCE < seconds) throw new AuthRefused("token expired");
  if (typeof answer.nbf === "number" && answer.nbf - CLOCK_TOLERANCE > seconds) throw new AuthRefused("token not yet valid");
  if (config.issuer !== undefined && answer.iss !== undefined && answer.iss !== config.issuer) throw new AuthRefused("token from another issuer");
  if (config.audience !== undefined && answer.aud !== undefined) {
    const audiences = Array.isArray(answer.aud) ? answer.aud : [answer.aud];
    if (!audiences.includes(config.audience)) throw new AuthRefused("token for another audience");
  }
  const user = claimUser(answer, config.userClaim ?? "username");
  const until = Math.min(now + CACHE_MS, typeof answer.exp === "number" ? answer.exp * 1000 : Infinity);
  cache.put(digest, user, until);
  return user;
}

/**
 * The work of checking `token` for a login the policy refused, its verdict unused: the refusal
 * then takes as long as a token's would, so timing does not tell which users a list admits.
 */
export async function bearerDecoy(token: string, env: NodeJS.ProcessEnv): Promise<void> {
  try {
    const config = oauthConfigFromEnv(env);
    if (config !== undefined) await bearerTokenUser(token, config);
  } catch {
    // refused whatever the token says
  }
}

/**
 * The user a bearer token speaks for. Throws AuthRefused (invalid, expired, wrong issuer
 * or audience, bad signature, unknown key, inactive) or TempError (endpoint unreachable).
 */
export async function bearerTokenUser(token: string, config: OAuthConfig, cache: IntrospectionCache = sharedCache, now = Date.now()): Promise<string> {
  // A JWT is three base64url parts; anything else (an opaque token) can only be introspected.
  const looksJwt = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
  if (config.jwksFile !== undefined && (looksJwt || config.introspectionUrl === undefined)) return verifyJwt(token, config);
  return introspect(token, config, cache, now);
}

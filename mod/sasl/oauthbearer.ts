/**
 * OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's older form), sans-I/O. Both carry a
 * user name and a bearer token in one client message:
 *   OAUTHBEARER: gs2-header ("n,a=USER,") ^A [host=..^A] [port=..^A] auth=Bearer TOKEN ^A ^A
 *   XOAUTH2:     user=USER ^A auth=Bearer TOKEN ^A ^A
 * popup does not judge the token: checkpassword does, as for every login. fd 3 gets
 * `user\0{OAUTHBEARER}DIGEST\0timestamp\0` (DIGEST: base64url SHA-256 of the token,
 * which is too long for djb's 512 octets) and the token itself travels beside it in
 * POPPIN_SASL_BEARER, in the environment popup gives checkpassword. On failure the
 * client first gets the RFC 7628 error JSON as a challenge, answers it (^A), then -ERR; a
 * malformed message gets the same, with the status invalid_request.
 */
import { tokenDigest } from "../auth/oauth.ts";
import { FORM_PREFIX, type BearerMechanism } from "./bearer_names.ts";
import type { SaslStep } from "./scram_server.ts";

export { BEARER_MECHANISMS, BEARER_VARIABLE, parseBearerForm, type BearerMechanism } from "./bearer_names.ts";

const SOH = "\x01";
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/** RFC 6750 section 2.1: b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface BearerMessage {
  user: string;
  token: string;
}

export type ParsedBearer = { ok: true; value: BearerMessage } | { ok: false; why: string };

function fromAuth(kvpairs: string[], user: string | undefined): ParsedBearer {
  let token: string | undefined;
  const seen = new Set<string>();
  for (const pair of kvpairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0 || !/^[A-Za-z]+$/.test(pair.slice(0, eq))) return { ok: false, why: "bad key=value pair" };
    const key = pair.slice(0, eq);
    // Two auth= (or user=) would let a proxy in front and poppin read different tokens or users.
    if (seen.has(key)) return { ok: false, why: `${key}= given twice` };
    seen.add(key);
    if (key === "auth") {
      const m = /^Bearer (.+)$/i.exec(pair.slice(eq + 1));
      if (!m || !B64TOKEN.test(m[1])) return { ok: false, why: "auth is not Bearer TOKEN" };
      token = m[1];
    }
  }
  if (token === undefined) return { ok: false, why: "no auth=Bearer" };
  if (user === undefined || user === "") return { ok: false, why: "no user name (a=USER)" };
  // saslname (RFC 5801) has no NUL; in the fd-3 data it would end the user name and make the
  // rest of it a password (a=joe\0secret logged in as joe by password under a bearer mechanism).
  if (user.includes("\0")) return { ok: false, why: "NUL in the user name" };
  return { ok: true, value: { user, token } };
}

/** Parses an OAUTHBEARER client response (RFC 7628 section 3.1). */
export function parseOAuthBearer(message: string): ParsedBearer {
  const m = /^([ny]),(?:a=([^,]*))?,\x01(.*)\x01\x01$/s.exec(message);
  if (!m) return { ok: false, why: message.startsWith("p=") ? "channel binding is not supported" : "bad OAUTHBEARER message" };
  const user = m[2]?.replaceAll("=2C", ",").replaceAll("=3D", "=");
  if (m[2] !== undefined && /=(?!2C|3D)/.test(m[2])) return { ok: false, why: "bad user name" };
  return fromAuth(m[3].split(SOH), user);
}

/** Parses an XOAUTH2 client response. */
export function parseXOAuth2(message: string): ParsedBearer {
  if (!message.endsWith(`${SOH}${SOH}`)) return { ok: false, why: "bad XOAUTH2 message" };
  const pairs = message.slice(0, -2).split(SOH);
  const users = pairs.filter((p) => p.startsWith("user="));
  if (users.length > 1) return { ok: false, why: "user= given twice" };
  return fromAuth(pairs.filter((p) => !p.startsWith("user=")), users[0]?.slice(5));
}

export function formatBearerForm(token: string): Uint8Array {
  return new Uint8Array(Buffer.from(`${FORM_PREFIX}${tokenDigest(token)}`, "latin1"));
}

/**
 * The challenge a client gets before the -ERR of a failed bearer login (RFC 7628 section 3.2.2;
 * status codes of RFC 6750 section 3.1, XOAUTH2 with the HTTP status as Google's does):
 * `invalid_token` for a token refused, `invalid_request` for a message that is not one.
 */
export function bearerErrorChallenge(mechanism: BearerMechanism, error: "invalid_token" | "invalid_request" = "invalid_token"): Uint8Array {
  const json = mechanism === "OAUTHBEARER" ? { status: error } : { status: error === "invalid_token" ? "401" : "400", schemes: "bearer" };
  return new Uint8Array(Buffer.from(JSON.stringify(json), "utf8"));
}

/** Starts an exchange: what a host that accepts bearer tokens gives the mechanisms (SaslHost's bearer). */
export function bearerExchange(mechanism: BearerMechanism): BearerExchange {
  return new BearerExchange(mechanism);
}

export class BearerExchange {
  constructor(readonly mechanism: BearerMechanism) {}
  #stage: "message" | "error-sent" | "over" = "message";
  #why = "";

  step(response: Uint8Array): SaslStep {
    const stage = this.#stage;
    this.#stage = "over";
    // The client's answer to the error JSON (RFC 7628 section 3.2.3: ^A) ends the exchange.
    if (stage === "error-sent") return { kind: "malformed", why: this.#why };
    if (stage === "over") return { kind: "malformed", why: "exchange is over" };
    const parsed = this.#parse(response);
    if (!parsed.ok) {
      // A message that is not one fails as RFC 7628 says every failure does: the error JSON
      // (invalid_request) as a challenge, the client's dummy answer, then the -ERR.
      this.#stage = "error-sent";
      this.#why = parsed.why;
      return { kind: "challenge", data: bearerErrorChallenge(this.mechanism, "invalid_request") };
    }
    const { user, token } = parsed.value;
    return {
      kind: "done", user: new Uint8Array(Buffer.from(user, "utf8")), password: formatBearerForm(token),
      bearer: token, failureChallenge: bearerErrorChallenge(this.mechanism),
    };
  }

  #parse(response: Uint8Array): ParsedBearer {
    let text: string;
    try {
      text = strictUtf8.decode(response);
    } catch {
      return { ok: false, why: "not UTF-8" };
    }
    return this.mechanism === "OAUTHBEARER" ? parseOAuthBearer(text) : parseXOAuth2(text);
  }
}

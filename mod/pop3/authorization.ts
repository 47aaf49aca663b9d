/**
 * The AUTHORIZATION state (RFC 1939 section 4), as qmail-popup serves it: USER, PASS,
 * APOP, QUIT, NOOP (and CAPA, added by the session from both tables), plus STLS
 * (RFC 2595) and AUTH PLAIN (RFC 5034), and LOGIN when configured, where the login policy allows them. A complete
 * PASS, APOP or AUTH yields an "authenticate" action; the driver runs the checkpassword
 * chain and reports back through authenticationFailed().
 */
import { capabilityLines, type CapaContext } from "./capabilities.ts";
import { MAX_AUTH_FAILURES } from "./limits.ts";
import { TEXT, err, ok } from "./responses.ts";
import { offeredMechanisms, type SaslHost } from "../sasl/mechanisms.ts";
import { decodePlain } from "./sasl_plain.ts";
import { langCommand } from "./lang.ts";
import { authCancelled, saslBegin, saslContinue, saslStart } from "./sasl_exchange.ts";
import { LOGIN_USERNAME_PROMPT, LoginExchange } from "./sasl_login.ts";
import type { CommandTable, Handler, Outcome } from "./table.ts";
import { TRANSACTION_TABLE } from "./transaction.ts";
import { OPEN_POLICY, type AuthorizationState, type LoginPolicy } from "./authorization_state.ts";

export { OPEN_POLICY, type AuthorizationState, type LoginPolicy } from "./authorization_state.ts";

export function newAuthorizationState(apopTimestamp: string | undefined, policy: LoginPolicy = OPEN_POLICY, tls = false, sasl?: SaslHost): AuthorizationState {
  return { apopTimestamp, user: undefined, failures: 0, policy, tls, saslPending: false, sasl };
}

/** RFC 2595 section 4: after TLS starts, forget everything learnt from the client before it. */
export function tlsStarted(state: AuthorizationState): void {
  state.tls = true;
  state.user = undefined;
  state.saslPending = false;
  state.exchange = undefined;
}

const SPACE = 0x20;

const user: Handler<AuthorizationState> = (state, arg) => {
  const refusal = state.policy.clearTextRefusal(state.tls);
  if (refusal !== undefined) return { reply: err(refusal) };
  if (arg.length === 0) return { reply: err(TEXT.syntax), bad: true };
  state.user = arg.slice();
  return { reply: ok() };
};

const pass: Handler<AuthorizationState> = (state, arg) => {
  const refusal = state.policy.clearTextRefusal(state.tls);
  if (refusal !== undefined) return { reply: err(refusal) };
  if (state.user === undefined) return { reply: err(TEXT.userFirst), bad: true };
  if (arg.length === 0) return { reply: err(TEXT.syntax), bad: true };
  return { action: { kind: "authenticate", user: state.user, password: arg.slice(), apop: false, mechanism: "USER" } };
};

const apop: Handler<AuthorizationState> = (state, arg) => {
  const space = arg.indexOf(SPACE);
  if (space <= 0 || space === arg.length - 1) return { reply: err(TEXT.syntax), bad: true };
  if (state.apopTimestamp === undefined) return { reply: err(TEXT.noApop), bad: true };
  return {
    action: { kind: "authenticate", user: arg.slice(0, space), password: arg.slice(space + 1), apop: true, mechanism: "APOP" },
  };
};

const stls: Handler<AuthorizationState> = (state) => {
  if (state.tls) return { reply: err(TEXT.tlsActive), bad: true };
  if (!state.policy.stls) return { reply: err(TEXT.noStls), bad: true };
  return { reply: ok(TEXT.beginTls), action: { kind: "starttls" } };
};

function plainResponse(state: AuthorizationState, response: Uint8Array): Outcome {
  if (response.length === 1 && response[0] === 0x2a) return authCancelled(state); // "*"
  const decoded = decodePlain(response);
  if (decoded.kind === "bad-base64") return { reply: err(TEXT.saslBadBase64), bad: true };
  if (decoded.kind === "bad-message") return { reply: err(`${TEXT.saslBadMessage}: ${decoded.why}`), bad: true };
  return { action: { kind: "authenticate", user: decoded.user, password: decoded.password, apop: false, mechanism: "PLAIN" } };
}

const auth: Handler<AuthorizationState> = (state, arg) => {
  const refusal = state.policy.clearTextRefusal(state.tls);
  if (arg.length === 0) {
    // The bare AUTH some clients (Thunderbird) send: the mechanisms usable now.
    const names = offeredSaslNames(state);
    return { reply: new TextEncoder().encode(`+OK \r\n${names.map((n) => `${n}\r\n`).join("")}.\r\n`) };
  }
  const space = arg.indexOf(SPACE);
  const mechanism = Buffer.from(space < 0 ? arg : arg.subarray(0, space)).toString("latin1").toUpperCase();
  if (mechanism === "LOGIN" && state.policy.saslLogin === true) {
    if (refusal !== undefined) return { reply: err(refusal) };
    return saslBegin(state, new LoginExchange(), space < 0 ? undefined : arg.subarray(space + 1), LOGIN_USERNAME_PROMPT);
  }
  if (mechanism !== "PLAIN") return saslStart(state, mechanism, space < 0 ? undefined : arg.subarray(space + 1));
  if (refusal !== undefined) return { reply: err(refusal) };
  if (space < 0) {
    state.saslPending = true;
    return { reply: new TextEncoder().encode("+ \r\n") };
  }
  return plainResponse(state, arg.subarray(space + 1));
};

/** RFC 6856 section 2: UTF8 (no argument, AUTHORIZATION only); user names, passwords and mail may be UTF-8 from now on. */
const utf8: Handler<AuthorizationState> = (state, arg) => {
  if (arg.length > 0) return { reply: err(TEXT.syntax), bad: true };
  state.utf8 = true;
  return { reply: ok() };
};

const quit: Handler<AuthorizationState> = () => ({ reply: ok(), close: true });
const noop: Handler<AuthorizationState> = () => ({ reply: ok() });

const handlers = new Map<string, Handler<AuthorizationState>>([
  ["user", user],
  ["pass", pass],
  ["apop", apop],
  ["auth", auth],
  ["stls", stls],
  ["utf8", utf8],
  ["lang", (_state, arg) => langCommand(arg)],
  ["quit", quit],
  ["noop", noop],
]);

/** The mechanisms CAPA's SASL line names now, PLAIN (and LOGIN) first where clear-text passwords are allowed. */
export function offeredSaslNames(state: AuthorizationState): string[] {
  const clearText = state.policy.clearTextRefusal(state.tls) === undefined;
  const passwords = clearText ? (state.policy.saslLogin === true ? ["PLAIN", "LOGIN"] : ["PLAIN"]) : [];
  return [...passwords, ...offeredMechanisms(state.sasl, state.tls, clearText)];
}

function capaContext(state: AuthorizationState): CapaContext {
  const p = state.policy;
  return {
    clearText: p.clearTextRefusal(state.tls) === undefined,
    stls: p.stls && !state.tls,
    loginDelay: p.loginDelay,
    expire: p.expire,
    shy: p.shy,
    saslMechanisms: offeredSaslNames(state),
  };
}

export const AUTHORIZATION_TABLE: CommandTable<AuthorizationState> = {
  handlers,
  unknown: () => ({ reply: err(TEXT.authorizationFirst), bad: true }),
  capabilities: (state) => capabilityLines({ handlers }, TRANSACTION_TABLE, capaContext(state)),
  continuation(state, line) {
    if (state.exchange !== undefined) return saslContinue(state, line);
    if (!state.saslPending) return undefined;
    state.saslPending = false;
    if (line === undefined) return { reply: err(TEXT.lineTooLong), bad: true };
    // "=" (the empty response) belongs to AUTH's initial response only (RFC 5034 section 4).
    if (line.length === 1 && line[0] === 0x3d) return { reply: err(TEXT.saslBadBase64), bad: true };
    return plainResponse(state, line);
  },
};

/** How the checkpassword chain ended when it did not serve the session. */
export type AuthFailure = "rejected" | "temporary" | "crashed";

/** The answer after a failed login; closes once MAX_AUTH_FAILURES is reached. */
export function authenticationFailed(state: AuthorizationState, failure: AuthFailure): Outcome {
  state.failures++;
  const text = failure === "rejected" ? TEXT.authFailed : failure === "crashed" ? TEXT.childCrashed : TEXT.authTemp;
  // One answer per command: the last allowed failure gets its -ERR and the connection closes.
  // A crash closes at once: the program may have been pop3d, killed mid-session after it had
  // read (and answered) commands; going back to AUTHORIZATION would answer the client's later
  // commands (a QUIT among them) with +OK while nothing was deleted.
  return { reply: err(text), close: failure === "crashed" || state.failures >= MAX_AUTH_FAILURES };
}

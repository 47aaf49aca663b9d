/**
 * AUTH with a multi-step mechanism (mod/sasl: SCRAM), RFC 5034 framing: an initial
 * response after the name ("=" is an empty one), "+ base64" challenges, the client's
 * base64 lines, "*" to cancel. A finished exchange becomes the same "authenticate"
 * action as PASS, with the mechanism's checkpassword form as the password; a failed
 * one becomes an "authenticate" action that is already failed, so the driver applies
 * the failure delay, the log line and the failure limits as for any login.
 */
import { startExchange, type SaslExchange, type SaslStep } from "../sasl/mechanisms.ts";
import { decodeBase64 } from "../sasl/scram.ts";
import type { AuthorizationState } from "./authorization_state.ts";
import { MAX_AUTH_FAILURES } from "./limits.ts";
import { TEXT, err } from "./responses.ts";
import type { Outcome } from "./table.ts";

const encoder = new TextEncoder();

/**
 * A client response. "=" is the empty response only as AUTH's initial response (RFC 5034
 * section 4); on a continuation line the empty response is the empty line, and "=" is invalid
 * base64 there (as Dovecot answers it).
 */
function decodeResponse(line: Uint8Array, initial: boolean): Uint8Array | "cancel" | undefined {
  const text = Buffer.from(line).toString("latin1");
  if (text === "*") return "cancel";
  if (text === "" || (initial && text === "=")) return new Uint8Array(0);
  const bytes = decodeBase64(text);
  return bytes === undefined ? undefined : new Uint8Array(bytes);
}

/**
 * The answer to "*" (RFC 5034 section 4: the server MUST reject the AUTH command with -ERR).
 * A cancelled AUTH is a login attempt that did not succeed: it counts toward MAX_AUTH_FAILURES
 * like a failed one (as Dovecot counts every AUTH it begins as an attempt), so a client cannot
 * loop AUTH / "*" for ever. It gets no failure delay and no failure log line: no password was
 * tried.
 */
export function authCancelled(state: AuthorizationState): Outcome {
  state.failures++;
  return { reply: err(TEXT.saslCancelled), close: state.failures >= MAX_AUTH_FAILURES };
}

function outcomeOf(state: AuthorizationState, exchange: SaslExchange, step: SaslStep): Outcome {
  const mechanism = exchange.mechanism;
  // Whatever a mechanism lets through, a NUL in the user name would split checkpassword's fd-3
  // data (user\0password\0timestamp\0) somewhere else than where it was meant to.
  if ("user" in step && step.user.includes(0)) {
    if (step.kind === "done") step.password.fill(0);
    return { reply: err(`${TEXT.saslBadExchange}: NUL in the user name`), bad: true };
  }
  switch (step.kind) {
    case "challenge":
      state.exchange = exchange;
      return { reply: encoder.encode(`+ ${Buffer.from(step.data).toString("base64")}\r\n`) };
    case "done":
      return { action: { kind: "authenticate", user: step.user, password: step.password, apop: false, mechanism, bearer: step.bearer, failureChallenge: step.failureChallenge } };
    case "refused":
      return { action: { kind: "authenticate", user: step.user, password: new Uint8Array(0), apop: false, mechanism, failed: { failure: "rejected", detail: step.why } } };
    case "temporary":
      return { action: { kind: "authenticate", user: step.user, password: new Uint8Array(0), apop: false, mechanism, failed: { failure: "temporary", detail: step.why } } };
    case "malformed":
      return { reply: err(`${TEXT.saslBadExchange}: ${step.why}`), bad: true };
  }
}

/** AUTH NAME [initial-response] for a mechanism of mod/sasl (SCRAM, OAUTHBEARER ...). */
export function saslStart(state: AuthorizationState, mechanism: string, initial: Uint8Array | undefined): Outcome {
  const exchange = startExchange(mechanism, state.sasl, state.tls, state.policy.clearTextRefusal(state.tls) === undefined);
  if (exchange === undefined) return { reply: err(TEXT.saslMechanism) };
  return saslBegin(state, exchange, initial);
}

/** Runs `exchange` from AUTH's initial response, or asks for the first response with `prompt` ("+ " and its base64). */
export function saslBegin(state: AuthorizationState, exchange: SaslExchange, initial: Uint8Array | undefined, prompt = ""): Outcome {
  if (initial === undefined) {
    state.exchange = exchange;
    return { reply: encoder.encode(`+ ${Buffer.from(prompt, "latin1").toString("base64")}\r\n`) };
  }
  const response = decodeResponse(initial, true);
  if (response === "cancel") return authCancelled(state);
  if (response === undefined) return { reply: err(TEXT.saslBadBase64), bad: true };
  return outcomeOf(state, exchange, exchange.step(response));
}

/** The client's line while an exchange waits for it. */
export function saslContinue(state: AuthorizationState, line: Uint8Array | undefined): Outcome {
  const exchange = state.exchange!;
  state.exchange = undefined;
  if (line === undefined) return { reply: err(TEXT.lineTooLong), bad: true };
  const response = decodeResponse(line, false);
  if (response === "cancel") return authCancelled(state);
  if (response === undefined) return { reply: err(TEXT.saslBadBase64), bad: true };
  return outcomeOf(state, exchange, exchange.step(response));
}

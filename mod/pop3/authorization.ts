/**
 * The AUTHORIZATION state (RFC 1939 section 4), as qmail-popup serves it: USER, PASS,
 * APOP, QUIT, NOOP (and CAPA, added by the session from both tables). A complete
 * PASS or APOP yields an "authenticate" action; the driver runs the checkpassword
 * chain and reports back through authenticationFailed().
 */
import { MAX_AUTH_FAILURES } from "./limits.ts";
import { TEXT, err, ok } from "./responses.ts";
import type { CommandTable, Handler, Outcome } from "./table.ts";

export interface AuthorizationState {
  /** The timestamp offered in the greeting (`<pid.time@host>`), or undefined when APOP is not offered. */
  readonly apopTimestamp: string | undefined;
  /** Name given by USER, kept for PASS (and for a retried PASS, as qmail-popup does). */
  user: Uint8Array | undefined;
  failures: number;
}

export function newAuthorizationState(apopTimestamp: string | undefined): AuthorizationState {
  return { apopTimestamp, user: undefined, failures: 0 };
}

const SPACE = 0x20;

const user: Handler<AuthorizationState> = (state, arg) => {
  if (arg.length === 0) return { reply: err(TEXT.syntax), bad: true };
  state.user = arg.slice();
  return { reply: ok() };
};

const pass: Handler<AuthorizationState> = (state, arg) => {
  if (state.user === undefined) return { reply: err(TEXT.userFirst), bad: true };
  if (arg.length === 0) return { reply: err(TEXT.syntax), bad: true };
  return { action: { kind: "authenticate", user: state.user, password: arg.slice(), apop: false } };
};

const apop: Handler<AuthorizationState> = (state, arg) => {
  const space = arg.indexOf(SPACE);
  if (space <= 0 || space === arg.length - 1) return { reply: err(TEXT.syntax), bad: true };
  if (state.apopTimestamp === undefined) return { reply: err(TEXT.noApop), bad: true };
  return {
    action: { kind: "authenticate", user: arg.slice(0, space), password: arg.slice(space + 1), apop: true },
  };
};

const quit: Handler<AuthorizationState> = () => ({ reply: ok(), close: true });
const noop: Handler<AuthorizationState> = () => ({ reply: ok() });

export const AUTHORIZATION_TABLE: CommandTable<AuthorizationState> = {
  handlers: new Map<string, Handler<AuthorizationState>>([
    ["user", user],
    ["pass", pass],
    ["apop", apop],
    ["quit", quit],
    ["noop", noop],
  ]),
  unknown: () => ({ reply: err(TEXT.authorizationFirst), bad: true }),
};

/** How the checkpassword chain ended when it did not serve the session. */
export type AuthFailure = "rejected" | "temporary" | "crashed";

/** The answer after a failed login; closes once MAX_AUTH_FAILURES is reached. */
export function authenticationFailed(state: AuthorizationState, failure: AuthFailure): Outcome {
  state.failures++;
  const text = failure === "rejected" ? TEXT.authFailed : failure === "crashed" ? TEXT.childCrashed : TEXT.authTemp;
  // One answer per command: the last allowed failure gets its -ERR and the connection closes.
  return { reply: err(text), close: state.failures >= MAX_AUTH_FAILURES };
}

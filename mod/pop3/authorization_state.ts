/**
 * The AUTHORIZATION state's data and the login policy it asks (authorization.ts serves the
 * commands, sasl_exchange.ts the multi-step SASL mechanisms; both use these).
 */
import type { SaslExchange, SaslHost } from "../sasl/mechanisms.ts";

/** What the login policy decides for the engine (mod/policy computes it). */
export interface LoginPolicy {
  /** Why clear-text passwords are refused on this connection now (an -ERR text with its code), or undefined if allowed. */
  clearTextRefusal(tls: boolean): string | undefined;
  /** A certificate is configured: STLS is offered until TLS is active. */
  readonly stls: boolean;
  readonly loginDelay?: number;
  readonly expire?: number | "never";
  readonly shy?: boolean;
  /** SASL LOGIN is offered besides PLAIN (wherever clear-text passwords are allowed). */
  readonly saslLogin?: boolean;
}

export const OPEN_POLICY: LoginPolicy = { clearTextRefusal: () => undefined, stls: false };

export interface AuthorizationState {
  /** The timestamp offered in the greeting (`<pid.time@host>`), or undefined when APOP is not offered. */
  readonly apopTimestamp: string | undefined;
  /** Name given by USER, kept for PASS (and for a retried PASS, as qmail-popup does). */
  user: Uint8Array | undefined;
  failures: number;
  readonly policy: LoginPolicy;
  /** TLS is active (implicit TLS, or after STLS). */
  tls: boolean;
  /** "AUTH PLAIN" was answered with "+ ": the next line is the client's response. */
  saslPending: boolean;
  /** What the SASL mechanisms beyond PLAIN need from the host (mod/sasl); undefined: PLAIN only. */
  readonly sasl?: SaslHost;
  /** A SCRAM (or other multi-step) exchange waiting for the client's next response. */
  exchange?: SaslExchange;
  /** The client sent UTF8 (RFC 6856). */
  utf8?: boolean;
}


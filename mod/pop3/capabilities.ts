/**
 * CAPA (RFC 2449), computed from the command tables so it cannot claim a command
 * that a table does not serve, and from what the policy allows at that moment
 * (RFC 2595: STLS only before TLS; USER and SASL PLAIN only where clear-text
 * passwords are allowed). RFC 2449 section 5: capabilities of the TRANSACTION
 * state are announced in AUTHORIZATION too, so both tables are consulted.
 */
import { VERSION } from "../base/version.ts";
import { TEXT } from "./responses.ts";
/** What CAPA needs of a command table: which verbs it serves. */
interface VerbSet {
  readonly handlers: ReadonlyMap<string, unknown>;
}

/** What the session allows right now (the defaults are the plain chain with no policy). */
export interface CapaContext {
  /** USER/PASS and AUTH PLAIN may be used now. */
  readonly clearText: boolean;
  /** STLS may be used now (a certificate is configured and TLS is not active yet). */
  readonly stls: boolean;
  /** LOGIN-DELAY seconds to announce (RFC 2449 section 6.8). */
  readonly loginDelay?: number;
  /** EXPIRE days or NEVER to announce (RFC 2449 section 6.7). */
  readonly expire?: number | "never";
  /** Leave out IMPLEMENTATION and its version (Qpopper's shy). */
  readonly shy?: boolean;
  /** The SASL line's mechanisms, PLAIN included where offered; unset: PLAIN where clear text is allowed. */
  readonly saslMechanisms?: readonly string[];
}

export const PLAIN_CONTEXT: CapaContext = { clearText: true, stls: false };

export function capabilityLines(authorization: VerbSet, transaction: VerbSet, now: CapaContext = PLAIN_CONTEXT): string[] {
  const lines: string[] = [];
  if (transaction.handlers.has("top")) lines.push("TOP");
  if (now.clearText && authorization.handlers.has("user") && authorization.handlers.has("pass")) lines.push("USER");
  if (authorization.handlers.has("auth")) {
    const mechanisms = now.saslMechanisms ?? (now.clearText ? ["PLAIN"] : []);
    if (mechanisms.length > 0) lines.push(`SASL ${mechanisms.join(" ")}`);
  }
  if (transaction.handlers.has("uidl")) lines.push("UIDL");
  // The line framer takes several commands per packet, and popup reads the authorization
  // state byte-exactly, so commands pipelined after PASS reach pop3d (RFC 2449 section 6.6).
  lines.push("PIPELINING");
  lines.push("RESP-CODES");
  lines.push("AUTH-RESP-CODE");
  if (now.stls && authorization.handlers.has("stls")) lines.push("STLS");
  // RFC 6856: UTF-8 mail is sent as it is; USER: user names and passwords may be UTF-8 (RFC 8265 names in the user database).
  if (authorization.handlers.has("utf8")) lines.push("UTF8 USER");
  if (authorization.handlers.has("lang") && transaction.handlers.has("lang")) lines.push("LANG");
  if (now.loginDelay !== undefined) lines.push(`LOGIN-DELAY ${now.loginDelay}`);
  if (now.expire !== undefined) lines.push(`EXPIRE ${now.expire === "never" ? "NEVER" : now.expire}`);
  if (!now.shy) lines.push(`IMPLEMENTATION poppin-${VERSION}`);
  return lines;
}

export function capaReply(lines: readonly string[]): Uint8Array {
  return new TextEncoder().encode([`+OK ${TEXT.capaFollows}`, ...lines, "."].join("\r\n") + "\r\n");
}

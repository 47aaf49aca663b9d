/**
 * CAPA (RFC 2449), computed from the command tables so it cannot claim a command
 * that a table does not serve. RFC 2449 section 5: capabilities of the TRANSACTION
 * state are announced in AUTHORIZATION too, so both tables are consulted.
 */
import { TEXT } from "./responses.ts";
/** What CAPA needs of a command table: which verbs it serves. */
interface VerbSet {
  readonly handlers: ReadonlyMap<string, unknown>;
}

export function capabilityLines(authorization: VerbSet, transaction: VerbSet): string[] {
  const lines: string[] = [];
  if (transaction.handlers.has("top")) lines.push("TOP");
  if (authorization.handlers.has("user") && authorization.handlers.has("pass")) lines.push("USER");
  if (transaction.handlers.has("uidl")) lines.push("UIDL");
  // The line framer takes several commands per packet, and popup reads the authorization
  // state byte-exactly, so commands pipelined after PASS reach pop3d (RFC 2449 section 6.6).
  lines.push("PIPELINING");
  lines.push("RESP-CODES");
  lines.push("AUTH-RESP-CODE");
  if (authorization.handlers.has("stls")) lines.push("STLS");
  lines.push("IMPLEMENTATION poppin");
  return lines;
}

export function capaReply(lines: readonly string[]): Uint8Array {
  return new TextEncoder().encode([`+OK ${TEXT.capaFollows}`, ...lines, "."].join("\r\n") + "\r\n");
}

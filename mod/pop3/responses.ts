/**
 * Every response text of the POP3 service, in one place. Wording follows
 * qmail-popup.c and qmail-pop3d.c where clients and log scanners may match it;
 * RFC 2449 response codes ([AUTH], [SYS/TEMP]) are added where the RFC defines one.
 */
const encoder = new TextEncoder();

export function ok(text = ""): Uint8Array {
  return encoder.encode(`+OK ${text}\r\n`);
}

export function err(text: string): Uint8Array {
  return encoder.encode(`-ERR ${text}\r\n`);
}

export const TEXT = {
  // AUTHORIZATION (qmail-popup.c)
  syntax: "syntax error",
  userFirst: "USER first",
  authorizationFirst: "authorization first",
  authFailed: "[AUTH] authorization failed",
  authTemp: "[SYS/TEMP] temporary authorization failure, try again later",
  childCrashed: "[SYS/TEMP] aack, child crashed",
  noApop: "APOP not available: no timestamp was offered",
  usagePopup: "usage: popup hostname subprogram",
  // STLS (RFC 2595) and AUTH PLAIN (RFC 5034)
  beginTls: "Begin TLS negotiation",
  tlsActive: "STLS not allowed: TLS is already active",
  noStls: "STLS not available: no certificate is configured",
  saslCancelled: "[AUTH] authentication cancelled",
  saslBadBase64: "[AUTH] invalid base64 in the response",
  saslBadMessage: "[AUTH] invalid PLAIN response",
  saslMechanism: "[AUTH] unsupported mechanism",
  saslBadExchange: "[AUTH] invalid SASL response",
  // TRANSACTION (qmail-pop3d.c)
  unimplemented: "unimplemented",
  deleted: "already deleted",
  noZero: "messages are counted from 1",
  tooBig: "not that many messages",
  noSuch: "unable to open that message",
  noUnlink: "unable to unlink all deleted messages",
  noMaildir: "this user has no $HOME/Maildir",
  scanFailed: "unable to scan $HOME/Maildir",
  // both states
  lineTooLong: "command line too long",
  nulInLine: "NUL octet in command line",
  tooManyBad: "too many bad commands, closing connection",
  capaFollows: "capability list follows",
} as const;

export const TERMINATOR: Uint8Array = encoder.encode(".\r\n");
export const CRLF: Uint8Array = encoder.encode("\r\n");

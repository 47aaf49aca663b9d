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
  // before the greeting of TRANSACTION: the session policy (RFC 2449 codes) and mbox spools
  inUse: "[IN-USE] mailbox in use by another session, try again later",
  spoolFailed: "[SYS/TEMP] unable to read the mail spool",
  // the login policy: clear-text passwords (USER, PASS, AUTH PLAIN)
  clearTextNever: "[SYS/PERM] clear-text passwords are not accepted here",
  clearTextLocalOnly: "[SYS/PERM] clear-text passwords are accepted only from this host",
  clearTextSendStls: "[AUTH] clear-text passwords need TLS: send STLS first",
  clearTextNoTls: "[SYS/PERM] clear-text passwords need TLS, which is not configured here",
  /** The default's refusal with a certificate, unencrypted, from elsewhere: Dovecot's disable_plaintext_auth wording. */
  plaintextDisallowed: "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections: use STLS",
  // both states
  lineTooLong: "command line too long",
  nulInLine: "NUL octet in command line",
  tooManyBad: "too many bad commands, closing connection",
  capaFollows: "capability list follows",
  // LANG (RFC 6856 section 3)
  langListing: "Language listing follows:",
  langChanged: "Language changed",
  langUnsupported: "unsupported language",
} as const;

/** LOGIN-DELAY (RFC 2449 section 8.1.2): the answer while the delay since the last login runs. */
export function loginDelayText(wait: number): string {
  return `[LOGIN-DELAY] wait ${wait} more seconds before logging in again`;
}

export const TERMINATOR: Uint8Array = encoder.encode(".\r\n");
export const CRLF: Uint8Array = encoder.encode("\r\n");

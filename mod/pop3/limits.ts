/** Every bound of the POP3 service, each with where it comes from. */
import { ENV } from "../base/env.ts";

/** RFC 2449 section 4: a command is at most 255 octets including the terminating CRLF. */
export const MAX_COMMAND_OCTETS = 255;

/**
 * AUTH lines and SASL responses (RFC 5034 section 4 lets them exceed the 255 octets of
 * other commands): a SCRAM-PLUS final message is about 260 octets, an OAuth bearer token
 * several thousand. Dovecot allows 8 KiB per SASL line; so do we.
 */
export const MAX_SASL_LINE_OCTETS = 8192;

/** Unknown or malformed commands tolerated in one session before the connection is dropped (robustness; not in qmail). */
export const MAX_BAD_COMMANDS = 20;

/** Failed or cancelled logins (AUTH answered "*") tolerated in one popup session (qmail-popup allows one: it exits after a failure). */
export const MAX_AUTH_FAILURES = 5;

/** qmail-popup and qmail-pop3d's read and write timeout: 1200 seconds (timeoutread(1200, ...)). */
export const DEFAULT_TIMEOUT_SECONDS: number = ENV.timeout.fallback;

/** Responses are gathered up to this many octets and written in one call (qmail-pop3d uses 1024). */
export const OUTPUT_CHUNK_OCTETS = 128 * 1024;

/** Message files are read in chunks of this size while streaming RETR and TOP. */
export const MESSAGE_READ_CHUNK = 128 * 1024;

/** Digits accepted in a message number or line count (2^53 is beyond any Maildir). */
export const MAX_NUMBER_DIGITS = 15;

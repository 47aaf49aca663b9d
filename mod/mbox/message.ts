/** One message of an mbox spool, as the scanner found it (all offsets in the spool file). */
export interface MboxMessage {
  /** The "From " separator line. */
  readonly fromOffset: number;
  /** The first octet of the message proper (after the From_ line). */
  readonly start: number;
  /** Where the empty line that ends the header section starts (= end when there is none). */
  readonly headerEnd: number;
  /** The end of the message (the blank line mbox writers add before the next From_ is not part of it). */
  readonly end: number;
  /** The next From_ line, or the end of the spool. */
  readonly next: number;
  /** Octets as POP3 sends the message (every bare LF counted as CRLF; RFC 1939). */
  readonly crlfSize: number;
  /** The unique-id listing: the message's X-UIDL, or derived from content and position (uidl.ts). */
  readonly uidl: string;
  /** What the UIDL was made from: the X-UIDL value, and the content hash (uidl.ts). */
  readonly ownUidl?: string;
  readonly derivedUidl: string;
  /** The From_ line without its LF (checked again before a message is served). */
  readonly fromLine: Uint8Array;
  /** The Status: and X-Status: values ("RO", "A"), empty when absent. */
  readonly status: string;
  readonly xStatus: string;
  /** The Status: field's octets [from, to) including continuation lines, when present. */
  readonly statusField?: readonly [number, number];
  /**
   * Header fields POP3 does not show (hidden.ts: Status:, X-Status:, Content-Length:, X-UID...,
   * as Dovecot hides them), as [from, to) offsets relative to `start`, in order; `crlfSize`
   * leaves them out. Undefined when there are none.
   */
  readonly hiddenFields?: readonly (readonly [number, number])[];
  /** Dovecot's IMAP UID of the message (its X-UID field), when it has one. */
  readonly xUid?: number;
  /** The UIDVALIDITY of its X-IMAPbase (Dovecot's) or X-IMAP (UW IMAP's) field; it counts in the spool's first message only. */
  readonly uidValidity?: number;
  /** The line end the header section uses, for header lines we add. */
  readonly eol: "\n" | "\r\n";
}

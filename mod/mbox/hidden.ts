/**
 * Header fields of an mbox message that are the mailbox's bookkeeping, not the message:
 * mail readers and POP/IMAP servers write them into the spool (Status: and X-Status: for
 * read/answered flags, Content-Length: for the body length, X-UID, X-Keywords, X-IMAP and
 * X-IMAPbase for IMAP's state). Dovecot leaves exactly these out of what POP3 and IMAP
 * clients see (its mbox_hide_headers) and Qpopper hides its own status lines, so message
 * sizes (LIST, STAT) and the octets of RETR/TOP match theirs on the same spool. They are
 * still read where they mean something (Content-Length for the body's end, Status for the
 * rewrite), and never enter the UIDL (uidl.ts's VOLATILE_FIELDS holds them all).
 */
export const HIDDEN_FIELDS: ReadonlySet<string> = new Set([
  "content-length", "status", "x-imap", "x-imapbase", "x-keywords", "x-status", "x-uid",
]);

/**
 * At most this many separate hidden ranges per message (adjacent hidden fields make one):
 * a header built to hold thousands of alternating fields costs no more than this; the
 * fields past the bound are shown.
 */
export const MAX_HIDDEN_RANGES = 256;

/**
 * Adds [from, to) (relative offsets, increasing) to `ranges`, joining it to the last range
 * when they touch. Returns false, leaving `ranges` alone, when that would exceed the bound.
 */
export function addHiddenRange(ranges: [number, number][], from: number, to: number): boolean {
  const last = ranges[ranges.length - 1];
  if (last !== undefined && last[1] === from) {
    last[1] = to;
    return true;
  }
  if (ranges.length >= MAX_HIDDEN_RANGES) return false;
  ranges.push([from, to]);
  return true;
}

/** The parts of [start, end) a POP3 client sees: absolute [from, to) ranges around the hidden ones. */
export function visibleRanges(start: number, end: number, hidden: readonly (readonly [number, number])[] = []): [number, number][] {
  const out: [number, number][] = [];
  let pos = start;
  for (const [a, b] of hidden) {
    const from = Math.min(start + a, end);
    if (from > pos) out.push([pos, from]);
    pos = Math.max(pos, Math.min(start + b, end));
  }
  if (end > pos) out.push([pos, end]);
  return out;
}

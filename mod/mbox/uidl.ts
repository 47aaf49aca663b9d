/**
 * UIDLs of mbox messages, stable across sessions, restarts and deletions of other
 * messages. A message's own `X-UIDL:` (Qpopper wrote them into spools) is used as it is,
 * so clients that leave mail on the server see the same UIDLs after the switch.
 * Otherwise the UIDL is the MD5 of the From_ line, the header fields that no mail reader
 * rewrites, and the body length, in hex; a second identical message gets "-2", a third
 * "-3" (its position among identical ones, which deleting other messages cannot change).
 */

/** RFC 1939 section 7: 1 to 70 characters in 0x21..0x7E. */
export function isValidUidl(text: string): boolean {
  if (text.length < 1 || text.length > 70) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Header fields left out of the derived UIDL: those mail readers and POP servers
 * (Qpopper, mutt, pine, Dovecot, UW-IMAP, poppin itself) add or rewrite in place.
 */
export const VOLATILE_FIELDS: ReadonlySet<string> = new Set([
  "status", "x-status", "x-uidl", "x-uid", "x-keywords", "x-imap", "x-imapbase", "content-length", "lines",
]);

/** Hands out UIDLs for one pass over a spool, keeping them unique. */
export class UidlAllocator {
  readonly #seen = new Map<string, number>();

  /** `own` is the X-UIDL value (if valid and unused), `derived` the content hash. */
  allocate(own: string | undefined, derived: string): string {
    if (own !== undefined && isValidUidl(own) && !this.#seen.has(own)) {
      this.#seen.set(own, 1);
      return own;
    }
    const count = (this.#seen.get(derived) ?? 0) + 1;
    this.#seen.set(derived, count);
    if (count === 1) return derived;
    let candidate = `${derived}-${count}`;
    while (this.#seen.has(candidate)) candidate += "x";
    this.#seen.set(candidate, 1);
    return candidate;
  }
}

/**
 * UIDLs as RFC 1939 section 7 allows them: 1 to 70 characters in 0x21..0x7E, unique in
 * the mailbox. A mail store proposes one per message (a Maildir its file name up to ':',
 * as qmail-pop3d does; an mbox its X-UIDL header); every proposal that already is such a
 * UIDL and is not taken is kept byte for byte. Anything else (a file name with a space, a
 * CR LF, 8-bit octets or more than 70 characters, or a second message with the same name)
 * gets a stable stand-in: hex digits of the SHA-256 of a key that does not change between
 * sessions (the message's own name), so a client that leaves mail on the server never
 * downloads it twice and never sees a reply line split by a hostile name.
 */

/** RFC 1939 section 7: "between 1 and 70 characters", each "in the range 0x21 to 0x7E". */
export const UIDL_MAX_CHARACTERS = 70;

export function isValidUidl(text: string): boolean {
  if (text.length < 1 || text.length > UIDL_MAX_CHARACTERS) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** The stand-in for a key: 40 hex digits (160 bits of SHA-256 over the key's UTF-8 octets). */
export function hashedUidl(key: string): string {
  return new Bun.CryptoHasher("sha256").update(key, "utf8").digest("hex").slice(0, 40);
}

export interface UidlProposal {
  /** What the store would show (qmail-pop3d's UIDL, an X-UIDL value). */
  readonly wanted: string;
  /** Keys for a stand-in, most stable first (e.g. the name up to ':', then the whole file name). */
  readonly keys: readonly string[];
}

/**
 * One RFC 1939 UIDL per proposal, in order. Valid proposals are claimed first, in listing
 * order (the first of two equal names keeps it); the others get the first stand-in of their
 * keys that is free, then that key numbered ("key\0#2" ...), which always ends.
 */
export function rfcUidls(proposals: readonly UidlProposal[]): string[] {
  const out = new Array<string>(proposals.length);
  const taken = new Set<string>();
  const left: number[] = [];
  proposals.forEach((p, i) => {
    if (isValidUidl(p.wanted) && !taken.has(p.wanted)) {
      taken.add(p.wanted);
      out[i] = p.wanted;
    } else left.push(i);
  });
  for (const i of left) {
    const keys = proposals[i]!.keys.length > 0 ? proposals[i]!.keys : [proposals[i]!.wanted];
    let uidl: string | undefined;
    for (const key of keys) {
      const candidate = hashedUidl(key);
      if (!taken.has(candidate)) {
        uidl = candidate;
        break;
      }
    }
    for (let n = 2; uidl === undefined; n++) {
      const candidate = hashedUidl(`${keys[keys.length - 1]}\0#${n}`);
      if (!taken.has(candidate)) uidl = candidate;
    }
    taken.add(uidl);
    out[i] = uidl;
  }
  return out;
}

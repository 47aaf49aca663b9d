/**
 * Dovecot's pop3_uidl_format, as its var_expand reads it, for the UIDLs clients saw from
 * Dovecot: `%u` the IMAP UID, `%v` the mailbox's UIDVALIDITY, and for a Maildir `%f` the file
 * name up to ':' and `%g` the GUID. Dovecot's default is `%08Xu%08Xv`; its `X` modifier
 * writes lower-case hex. Used by `poppin convert dovecot` (Maildirs, from dovecot-uidlist)
 * and by pop3d's `--uidl-format` on an mbox spool (from Dovecot's X-UID and X-IMAPbase fields).
 */
import { PermError } from "../base/errors.ts";

/** Dovecot 2.x's default pop3_uidl_format. */
export const DOVECOT_DEFAULT_UIDL_FORMAT = "%08Xu%08Xv";

/** What a format can use of a message: its IMAP UID, the mailbox's UIDVALIDITY, and for a Maildir its file name and GUID. */
export interface UidlFields {
  readonly uid: number;
  readonly uidValidity: number;
  /** The Maildir file name up to ':' (undefined for an mbox message: %f and %g are refused there). */
  readonly name?: string;
  readonly guid?: string;
}

type Piece = string | ((r: UidlFields) => string);

const NUMBER_KEYS: Record<string, (r: UidlFields) => number> = {
  u: (r) => r.uid,
  uid: (r) => r.uid,
  v: (r) => r.uidValidity,
  uidvalidity: (r) => r.uidValidity,
};
const NAME_KEYS: Record<string, (r: UidlFields) => string> = {
  f: (r) => r.name ?? "",
  filename: (r) => r.name ?? "",
  g: (r) => r.guid ?? r.name ?? "",
  guid: (r) => r.guid ?? r.name ?? "",
};

/**
 * Compiles a pop3_uidl_format as Dovecot's var_expand reads it: `%%`, `%KEY` or `%{NAME}`,
 * with an optional width before it (`08`: padded with zeros; `8`: the first 8 characters)
 * and the `X` modifier (lower-case hex of a number). `%m` (an MD5 of the headers, mbox only)
 * and every other key are refused: the UIDLs could not be the ones Dovecot showed.
 */
export function compileUidlFormat(format: string, names = true): (r: UidlFields) => string {
  const pieces: Piece[] = [];
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf("%", i);
    if (pct < 0) { pieces.push(format.slice(i)); break; }
    if (pct > i) pieces.push(format.slice(i, pct));
    const m = /^%(?:(%)|(0?)(\d*)(X?)(?:\{([a-z0-9_]+)\}|([a-zA-Z])))/.exec(format.slice(pct));
    if (m === null) throw new PermError(`uidl format ${JSON.stringify(format)}: cannot read ${JSON.stringify(format.slice(pct, pct + 6))}`);
    i = pct + m[0].length;
    if (m[1] !== undefined) { pieces.push("%"); continue; }
    const [, , zero, width, hex, long, short] = m;
    const key = long ?? short!;
    const number = NUMBER_KEYS[key];
    const get: ((r: UidlFields) => string | number) | undefined = number ?? (names ? NAME_KEYS[key] : undefined);
    const shown = `%${long === undefined ? key : `{${key}}`}`;
    if (get === undefined) throw new PermError(`uidl format ${JSON.stringify(format)}: ${shown} is not one poppin can compute (${names ? "it knows %u, %v, %f, %g; %m, Dovecot's MD5 of the headers, is not kept" : "an mbox message has %u and %v"})`);
    if (hex === "X" && number === undefined) throw new PermError(`uidl format ${JSON.stringify(format)}: the X modifier (hex) is for the numbers %u and %v`);
    const n = width === "" ? undefined : Number(width);
    pieces.push((r) => {
      const value = get(r);
      let text = hex === "X" ? value.toString(16) : String(value);
      if (n !== undefined) text = zero === "0" ? text.padStart(n, "0") : text.slice(0, n);
      return text;
    });
  }
  return (r) => pieces.map((p) => (typeof p === "string" ? p : p(r))).join("");
}


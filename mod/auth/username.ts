/**
 * User names as RFC 8265 section 3.3 prepares them (PRECIS UsernameCaseMapped): full-
 * and half-width characters mapped to their ordinary forms, lower case, then Unicode
 * NFC (String.prototype.normalize). `users add` stores names in this form; a login is
 * looked up as given first (entries made before keep working) and then in this form, so
 * "Jörg", "JÖRG" and a decomposed "jo\u0308rg" all find "jörg".
 */

/** RFC 8265's width mapping: the <wide> and <narrow> compatibility decompositions only. */
function widthMapped(name: string): string {
  return name.replace(/[\uff01-\uffef]/gu, (c) => c.normalize("NFKC"));
}

export function prepareUsername(name: string): string {
  return widthMapped(name).toLowerCase().normalize("NFC");
}

/** Why a name cannot be a user name (IdentifierClass basics): spaces and control characters. */
export function usernameRefusal(name: string): string | undefined {
  if (name.length === 0) return "empty";
  if (/[\s\p{Cc}\p{Cf}]/u.test(name)) return "space or control character";
  return undefined;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Whether a SASL authzid names the authcid's own user: the same octets, or (both UTF-8) the
 * same name once prepared as above ("Jörg" decomposed, "JÖRG"), as the user database compares
 * names. PLAIN and SCRAM log in as the authcid then; any other authzid (acting as another
 * user) is refused.
 */
export function sameUserName(authzid: Uint8Array, authcid: Uint8Array): boolean {
  if (Buffer.compare(authzid, authcid) === 0) return true;
  try {
    return prepareUsername(strictUtf8.decode(authzid)) === prepareUsername(strictUtf8.decode(authcid));
  } catch {
    return false; // not UTF-8: only the same octets name the same user
  }
}

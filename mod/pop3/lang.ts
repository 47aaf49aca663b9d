/**
 * LANG (RFC 6856 section 3), in both states. poppin's response texts exist in one language,
 * so the languages offered are "i-default" (RFC 2277: the default every LANG server offers)
 * and "en", which name the same texts; LANG lists them, and selects one by RFC 4647 lookup
 * ("en-GB" falls back to "en"; "*" is the default). Nothing about the session changes but
 * the tag the answer names, so the handler keeps no state and both states share it.
 */
import { TEXT, err, ok } from "./responses.ts";
import type { Outcome } from "./table.ts";

/** Language tag and its description, as LANG lists them (the default first). */
export const LANGUAGES: readonly (readonly [string, string])[] = [
  ["i-default", "Default language"],
  ["en", "English"],
];

const OFFERED = new Set(LANGUAGES.map(([tag]) => tag));

/** RFC 4647 section 2.1: a basic language range (1*8ALPHA *("-" 1*8alphanum)) or "*". */
const BASIC_RANGE = /^(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)$/;

/** The offered tag that RFC 4647 lookup (section 3.4) finds for `range`, or undefined. */
export function lookupLanguage(range: string): string | undefined {
  if (range === "*") return LANGUAGES[0]![0];
  const subtags = range.toLowerCase().split("-");
  while (subtags.length > 0) {
    const candidate = subtags.join("-");
    if (OFFERED.has(candidate)) return candidate;
    subtags.pop();
    // A single-letter subtag left at the end is dropped with the one after it (RFC 4647 3.4 step 4).
    if (subtags.length > 0 && subtags[subtags.length - 1]!.length === 1) subtags.pop();
  }
  return undefined;
}

/** LANG with no argument: the listing; with a language range: the language chosen, or -ERR. */
export function langCommand(arg: Uint8Array): Outcome {
  if (arg.length === 0) {
    const lines = [`+OK ${TEXT.langListing}`, ...LANGUAGES.map(([tag, name]) => `${tag} ${name}`), "."];
    return { reply: new TextEncoder().encode(lines.join("\r\n") + "\r\n") };
  }
  const range = Buffer.from(arg).toString("latin1");
  if (!BASIC_RANGE.test(range)) return { reply: err(TEXT.syntax), bad: true };
  const tag = lookupLanguage(range);
  return { reply: tag === undefined ? err(TEXT.langUnsupported) : ok(`${tag} ${TEXT.langChanged}`) };
}

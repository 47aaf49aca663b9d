import { PermError } from "../base/errors.ts";

/** One rule line as tcprules reads it: the address text and the value stored under its keys. */
export interface ParsedRule {
  address: Uint8Array;
  /** "D\0" for deny, then "+NAME=value\0" per environment instruction, as tcprules 0.88 writes. */
  data: Uint8Array;
}

const COLON = 0x3a, COMMA = 0x2c, EQUALS = 0x3d, HASH = 0x23, NEWLINE = 0x0a, SPACE = 0x20, TAB = 0x09, CARRIAGE_RETURN = 0x0d;
const DENY = new TextEncoder().encode("deny");
const ALLOW = new TextEncoder().encode("allow");
const decoder = new TextDecoder();

/**
 * A line tcprules cannot parse. The message is tcprules' own ("unable to parse this
 * line: TEXT", TEXT up to its first NUL, as the C string it prints), then the line number
 * and, when known, why. Exit 100: tcprules' parse errors are permanent.
 */
export class RulesParseError extends PermError {
  readonly lineNumber: number;
  constructor(line: Uint8Array, lineNumber: number, why?: string) {
    const nul = line.indexOf(0);
    const text = decoder.decode(nul < 0 ? line : line.subarray(0, nul));
    super(`unable to parse this line: ${text} (line ${lineNumber}${why ? `: ${why}` : ""})`);
    this.lineNumber = lineNumber;
  }
}

function startsWith(bytes: Uint8Array, at: number, word: Uint8Array): boolean {
  if (bytes.length - at < word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word[i]) return false;
  return true;
}

/** The line without its trailing newline, spaces and tabs (what tcprules prints when it fails). */
export function stripRuleLine(raw: Uint8Array): Uint8Array {
  let len = raw.length;
  while (len > 0) {
    const ch = raw[len - 1];
    if (ch !== NEWLINE && ch !== SPACE && ch !== TAB) break;
    len--;
  }
  return raw.subarray(0, len);
}

/**
 * Whether tcprules skips `raw` although it holds a rule-like text: no colon, not empty, not a
 * comment ("127.0.0.1 allow", "10.0.0.1=deny"): almost always a typo that tcprules drops
 * without a word, so the client falls through to a broader rule (or to "allow").
 */
export function isIgnoredText(raw: Uint8Array): boolean {
  const line = stripRuleLine(raw);
  let at = 0;
  while (at < line.length && (line[at] === SPACE || line[at] === TAB)) at++;
  return at < line.length && line[at] !== HASH && line.indexOf(COLON) < 0;
}

/**
 * How a rule line's address ends:
 *  - "ucspi-tcp": at the first colon, as tcprules 0.88 (Debian's ucspi-tcp): an address
 *    never holds a colon, so "::allow" and "a:b:allow" are lines it cannot parse;
 *  - "ipv6": when the first colon is not followed by "allow"/"deny", at a later colon that
 *    is, as ucspi-tcp-ipv6's tcprules, so IPv6 addresses such as "2001:db8::1:allow" parse.
 */
export type AddressSyntax = "ucspi-tcp" | "ipv6";

/** The colon that ends the address under `syntax`; -1 when there is none. */
function addressEnd(line: Uint8Array, syntax: AddressSyntax): number {
  const first = line.indexOf(COLON);
  if (first < 0) return -1;
  const verdictAfter = (colon: number): boolean => startsWith(line, colon + 1, DENY) || startsWith(line, colon + 1, ALLOW);
  if (verdictAfter(first) || syntax === "ucspi-tcp") return first;
  for (let colon = line.indexOf(COLON, first + 1); colon >= 0; colon = line.indexOf(COLON, colon + 1)) {
    if (verdictAfter(colon)) return colon;
  }
  return first; // fails below with tcprules' message
}

/**
 * Parses one input line (with its newline, if any). Returns null for what tcprules skips:
 * comments (# in the first column), empty lines and lines without a colon.
 */
export function parseRuleLine(raw: Uint8Array, lineNumber: number, syntax: AddressSyntax = "ipv6"): ParsedRule | null {
  if (raw.length === 0 || raw[0] === HASH || raw[0] === NEWLINE) return null;
  const line = stripRuleLine(raw);
  const colon = addressEnd(line, syntax);
  if (colon < 0) return null;
  const bad = (why?: string): never => { throw new RulesParseError(line, lineNumber, why); };
  const data: number[] = [];
  let x = colon + 1;
  if (startsWith(line, x, DENY)) {
    data.push(0x44, 0); // "D" and its NUL
    x += DENY.length;
  } else if (startsWith(line, x, ALLOW)) {
    x += ALLOW.length;
  } else {
    bad("expected allow or deny after the colon");
  }
  while (x < line.length) {
    // A file saved with DOS line ends: every line fails on its CR, and %0D alone does not say why.
    if (line[x] === CARRIAGE_RETURN) bad(`a carriage return at column ${x + 1}: the file has DOS line ends; remove them with sed -i 's/\\r$//' FILE`);
    if (line[x] !== COMMA) bad(`unexpected character at column ${x + 1}`);
    const eq = line.indexOf(EQUALS, x);
    if (eq < 0) bad("environment instruction without =");
    data.push(0x2b);
    for (let i = x + 1; i <= eq; i++) data.push(line[i]); // NAME=
    x = eq + 1;
    if (x >= line.length) bad("missing value after =");
    const quote = line[x++];
    const close = line.indexOf(quote, x);
    if (close < 0) bad("value not closed by its quote character");
    for (let i = x; i < close; i++) data.push(line[i]);
    data.push(0);
    x = close + 1;
  }
  return { address: line.slice(0, colon), data: Uint8Array.from(data) };
}

/**
 * Log lines are data: one event, one line. `logValue` makes one value from the wire,
 * the environment or a mailbox (user name, file name, UIDL) a single token; `logLine` is
 * applied to every whole line a program writes to its log, so that whatever reached a
 * message unescaped (an error text naming a file, a path with a newline in it) can never
 * split it or start a line of its own that a log watcher such as fail2ban would act on.
 */

/**
 * Printable ASCII stays, everything else (space, control and 8-bit octets, `%`) is written
 * as %XX, so a crafted user name or file name cannot forge or split log lines.
 */
export function logValue(value: Uint8Array | string): string {
  // Indexed loops, no iterator: this runs in every session, popup's included, whose start cost counts.
  if (typeof value === "string" && value.length > 0) {
    let i = 0;
    while (i < value.length && printable(value.charCodeAt(i))) i++;
    if (i === value.length) return value; // printable ASCII (an address, most user names): its own UTF-8
  }
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    out += printable(c) ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out.length > 0 ? out : "-";
}

function printable(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x25;
}

/** C0 controls, DEL, and the Unicode line breaks (NEL, LS, PS) some log readers also split on. */
const LINE_BREAKERS = /[\x00-\x1f\x7f\u0085\u2028\u2029]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x100) return `%${code.toString(16).toUpperCase().padStart(2, "0")}`;
  return Buffer.from(c, "utf8").toString("hex").toUpperCase().replace(/(..)/g, "%$1");
}

/**
 * One log line as written: every control character inside it (CR, LF, TAB, ESC ...) as %XX.
 * A final "\n" is kept (and the result ends with one exactly when `line` did).
 */
export function logLine(line: string): string {
  const body = line.endsWith("\n") ? line.slice(0, -1) : line;
  const safe = body.replace(LINE_BREAKERS, escapeChar);
  return body === line ? safe : `${safe}\n`;
}

/**
 * A value from the wire (user name) or environment made safe for a one-line log entry:
 * printable ASCII stays, everything else (space, control and 8-bit octets, `%`) is
 * written as %XX, so a crafted user name cannot forge or split log lines.
 */
export function logValue(value: Uint8Array | string): string {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  let out = "";
  for (const c of bytes) {
    out += c > 0x20 && c < 0x7f && c !== 0x25 ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out.length > 0 ? out : "-";
}

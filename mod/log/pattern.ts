/**
 * multilog's pattern matching (daemontools match.c), on bytes: the whole line must
 * match; `*` matches any run of bytes that does not contain the byte after the `*`
 * (a trailing `*` matches the rest of the line); every other byte matches itself.
 */
const STAR = 0x2a;

export function patternMatches(pattern: Uint8Array, line: Uint8Array, lineLength: number): boolean {
  let p = 0;
  let i = 0;
  for (;;) {
    if (p === pattern.length) return i === lineLength;
    const ch = pattern[p++];
    if (ch === STAR) {
      if (p === pattern.length) return true;
      const stop = pattern[p];
      for (;;) {
        if (i === lineLength) return false;
        if (line[i] === stop) break;
        i++;
      }
      continue;
    }
    if (i === lineLength) return false;
    if (line[i] !== ch) return false;
    i++;
  }
}

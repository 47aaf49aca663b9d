/**
 * The value tcprules stores under each key, as tcpserver reads it: a sequence of
 * NUL-terminated strings. "D" denies the connection; "+NAME=value" sets an environment
 * variable. A string that is neither (or "+NAME" without "=") is ignored, as tcpserver
 * 0.88 ignores it.
 */

export const DENY_MARK = 0x44; // 'D'
export const ENV_MARK = 0x2b; // '+'

export type RuleInstruction =
  | { kind: "deny" }
  | { kind: "env"; text: Uint8Array } // NAME=value, bytes after '+'
  | { kind: "other"; text: Uint8Array };

/** Splits a rule value into its NUL-terminated strings; trailing bytes without a NUL are ignored (tcpserver does). */
export function ruleInstructions(data: Uint8Array): RuleInstruction[] {
  const out: RuleInstruction[] = [];
  let start = 0;
  while (start < data.length) {
    const nul = data.indexOf(0, start);
    if (nul < 0) break;
    const text = data.subarray(start, nul);
    if (text[0] === DENY_MARK) out.push({ kind: "deny" });
    else if (text[0] === ENV_MARK) out.push({ kind: "env", text: text.subarray(1) });
    else out.push({ kind: "other", text });
    start = nul + 1;
  }
  return out;
}

import { TempError } from "../base/errors.ts";
import type { ByteSource } from "../cdb/byte_source.ts";
import { CdbWriter } from "../cdb/writer.ts";
import { AddressError, ruleKeys } from "./address.ts";
import { isIgnoredText, parseRuleLine, RulesParseError, stripRuleLine, type AddressSyntax } from "./parse.ts";

/** A rules file line longer than this is refused (tcprules would try to allocate it; we say so). */
export const MAX_RULE_LINE = 1 << 24;

/** Lines of `source`, each with its newline (the last may lack one); bounded by MAX_RULE_LINE. */
export function* ruleLines(source: ByteSource): Generator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const chunk = source.chunk(1 << 16);
    if (chunk === null) break;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl + 1;
      parts.push(chunk.slice(start, end));
      length += end - start;
      if (length > MAX_RULE_LINE) throw new TempError("out of memory (a rules line longer than 16 MiB)");
      if (nl < 0) break;
      yield join(parts, length);
      parts = [];
      length = 0;
      start = end;
      if (start === chunk.length) break;
    }
  }
  if (length > 0) yield join(parts, length);
}

function join(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Told about a line tcprules skips although it is not blank or a comment (its number and text). */
export type IgnoredLine = (lineNumber: number, line: Uint8Array) => void;

/** Adds the rules of `lines` to `writer` in order, as tcprules does; returns the number of keys. */
export function compileRules(lines: Iterable<Uint8Array>, writer: CdbWriter, syntax: AddressSyntax = "ipv6", onIgnored?: IgnoredLine): number {
  let lineNumber = 0;
  let keys = 0;
  for (const raw of lines) {
    lineNumber++;
    const rule = parseRuleLine(raw, lineNumber, syntax);
    if (rule === null) {
      if (onIgnored && isIgnoredText(raw)) onIgnored(lineNumber, stripRuleLine(raw));
      continue;
    }
    let expanded: Uint8Array[];
    try {
      expanded = ruleKeys(rule.address);
    } catch (err) {
      if (err instanceof AddressError) throw new RulesParseError(stripRuleLine(raw), lineNumber, err.message);
      throw err;
    }
    for (const key of expanded) writer.add(key, rule.data);
    keys += expanded.length;
  }
  return keys;
}

/**
 * tcprules: compiles rules from `source` into `tmpPath`, then renames it over `cdbPath`.
 * On any error the temporary file is removed and `cdbPath` is left as it was.
 */
export function compileRulesFile(source: ByteSource, cdbPath: string, tmpPath: string, syntax: AddressSyntax = "ipv6", onIgnored?: IgnoredLine): number {
  const writer = CdbWriter.create(tmpPath, cdbPath);
  try {
    const keys = compileRules(ruleLines(source), writer, syntax, onIgnored);
    writer.commit(cdbPath);
    return keys;
  } catch (err) {
    writer.abort();
    throw err;
  }
}

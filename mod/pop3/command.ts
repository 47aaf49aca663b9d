/**
 * One command line split as qmail's commands.c does: the verb is everything up to the
 * first space (matched case-insensitively), the argument is the rest after the spaces
 * that follow it. Passwords keep inner and trailing spaces.
 */
import type { FramedLine } from "./line_framer.ts";
import { MAX_NUMBER_DIGITS } from "./limits.ts";

export interface Command {
  /** Lower-case verb as sent ("retr"); may hold any octets, it is only ever looked up in a table. */
  verb: string;
  /** The argument octets, untouched. */
  arg: Uint8Array;
}

const SPACE = 0x20;

export type ParsedLine =
  | { kind: "command"; command: Command }
  | { kind: "too-long" }
  | { kind: "nul" };

export function parseLine(framed: FramedLine): ParsedLine {
  if (framed.kind === "too-long") return { kind: "too-long" };
  const bytes = framed.bytes;
  if (bytes.indexOf(0) >= 0) return { kind: "nul" };
  let space = bytes.indexOf(SPACE);
  if (space < 0) space = bytes.length;
  let argStart = space;
  while (argStart < bytes.length && bytes[argStart] === SPACE) argStart++;
  let verb = "";
  for (let i = 0; i < space; i++) {
    const c = bytes[i]!;
    verb += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return { kind: "command", command: { verb, arg: bytes.subarray(argStart) } };
}

/** Splits an argument at runs of spaces, ignoring leading and trailing ones (for numeric arguments). */
export function splitArgs(arg: Uint8Array): string[] {
  return Buffer.from(arg).toString("latin1").split(" ").filter((s) => s.length > 0);
}

/** A decimal number of at most MAX_NUMBER_DIGITS digits, or undefined (RFC 1939: numbers are decimal). */
export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined || text.length === 0 || text.length > MAX_NUMBER_DIGITS) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return Number(text);
}

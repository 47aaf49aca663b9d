import { closeSync, openSync, readSync } from "node:fs";
import { TempError } from "../base/errors.ts";
import { CdbReader } from "../cdb/reader.ts";
import { CdbIoError } from "../cdb/errors.ts";
import { ruleInstructions } from "./data.ts";
import { rulesFind } from "./find.ts";
import { canonicalRemoteIp } from "./ip6.ts";

export interface RulesQuery { ip: string; host?: string; info?: string }
export interface RulesEnvInstruction { name: string; value: string | null } // null: unset
export interface RulesVerdict { allow: boolean; env: RulesEnvInstruction[]; matchedKey: string | null }

/** A rules cdb that cannot be read; `code` is the errno name ("ENOENT": no such file) or "EPROTO" (corrupt). */
export class RulesReadError extends TempError {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

const decoder = new TextDecoder();

/**
 * Turns a rule value into a verdict as tcpserver's found() does: "D" denies, "+NAME=value"
 * sets NAME; strings without "=" are ignored, as tcpserver 0.88 ignores them. Values are
 * decoded as UTF-8 (the environment Bun passes to children is UTF-8).
 */
export function rulesVerdict(data: Uint8Array, matchedKey: string | null): RulesVerdict {
  let allow = true;
  const env: RulesEnvInstruction[] = [];
  for (const instruction of ruleInstructions(data)) {
    if (instruction.kind === "deny") allow = false;
    if (instruction.kind !== "env") continue;
    const eq = instruction.text.indexOf(0x3d);
    if (eq < 0) continue;
    env.push({ name: decoder.decode(instruction.text.subarray(0, eq)), value: decoder.decode(instruction.text.subarray(eq + 1)) });
  }
  return { allow, env, matchedKey };
}

/** tcpserver's lookup order exactly as ucspi-tcp's rules.c (info@ip, ip and its prefixes, info@=host, =host and its suffixes, ""); no match: allow, no env.
 *  Throws TempError if the file cannot be read or is corrupt; a missing file throws a TempError whose `.code` is "ENOENT" (serve -X then allows). */
export function rulesLookup(cdbPath: string, query: RulesQuery): RulesVerdict {
  let reader: CdbReader;
  try {
    reader = CdbReader.open(cdbPath);
  } catch (err) {
    if (err instanceof CdbIoError) throw new RulesReadError(err.message, err.code);
    throw err;
  }
  try {
    const match = rulesFind(reader, canonicalRemoteIp(query.ip), query.host, query.info);
    if (match === null) return { allow: true, env: [], matchedKey: null };
    return rulesVerdict(match.data, decoder.decode(match.key));
  } catch (err) {
    const code = (err as { code?: string }).code;
    // -x /etc/tcp.pop3 for /etc/tcp.pop3.cdb: after djb's words, what the file really is.
    throw new RulesReadError(`unable to read ${cdbPath}: ${(err as Error).message}${rulesTextHint(cdbPath)}`, code);
  } finally {
    reader.close();
  }
}

/** After djb's words for a cdb that does not parse: " (it holds rules text ...)" when it is tcprules' input, else "". */
export function rulesTextHint(path: string): string {
  return isRulesText(path) ? " (it holds rules text, not a cdb: give the .cdb that tcprules makes from it)" : "";
}

/** Whether the start of `path` reads as tcprules' input (lines such as 127.0.0.1:allow), not a cdb. */
function isRulesText(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = Buffer.alloc(512);
    const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString("latin1");
    return !text.includes("\0") && /^[^#\n]*:(?:allow|deny)/m.test(text);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

import type { CdbReader } from "../cdb/reader.ts";
import { ruleInstructions } from "./data.ts";
import { rulesFind } from "./find.ts";

const encoder = new TextEncoder();

/**
 * What tcprulescheck prints for a connection: "rule KEY:" and one line per instruction up
 * to "deny connection" or "allow connection"; "default:" when no rule (not even "")
 * exists. Bytes, since keys and values are bytes.
 */
export function rulesCheckReport(reader: CdbReader, ip: string, host?: string, info?: string): Uint8Array {
  const match = rulesFind(reader, ip, host, info);
  if (match === null) return encoder.encode("default:\nallow connection\n");
  const parts: Uint8Array[] = [encoder.encode("rule "), match.key, encoder.encode(":\n")];
  let denied = false;
  for (const instruction of ruleInstructions(match.data)) {
    if (instruction.kind === "deny") {
      parts.push(encoder.encode("deny connection\n"));
      denied = true;
      break;
    }
    if (instruction.kind === "env") parts.push(encoder.encode("set environment variable "), instruction.text, encoder.encode("\n"));
  }
  if (!denied) parts.push(encoder.encode("allow connection\n"));
  return Buffer.concat(parts);
}

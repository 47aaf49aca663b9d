/**
 * Looking up a virtual user: in the text file (`login:hash:uid:gid:home[:apop]`) or in
 * its compiled cdb (key: login, value: the rest of the line). A name ending in `.cdb`
 * is read as a cdb, anything else as the text file.
 */
import { readFileSync } from "node:fs";
import { TempError, describeSysError } from "../cli/errors.ts";
import { cdbLookupFile } from "./userdb_cdb.ts";
import { prepareUsername } from "./username.ts";
import { parseUserLine, parseUserValue, UserLineError, type VirtualUser } from "./userdb_text.ts";

/** Bound on the text file read at each login (compile big ones to cdb). */
const MAX_TEXT_DB = 64 << 20;

export function isCdbPath(path: string): boolean {
  return path.endsWith(".cdb");
}

function lookupText(path: string, login: string): VirtualUser | undefined {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_TEXT_DB) throw new TempError(`${path} is larger than ${MAX_TEXT_DB} bytes: compile it to a cdb`);
    text = bytes.toString("utf8");
  } catch (err) {
    if (err instanceof TempError) throw err;
    throw new TempError(`unable to read ${path}: ${describeSysError(err)}`);
  }
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line.startsWith(`${login}:`)) continue;
    try {
      return parseUserLine(line, i + 1);
    } catch (err) {
      throw new TempError(`unable to parse ${path}: ${(err as Error).message}`);
    }
  }
  return undefined;
}

function lookupCdb(path: string, login: Uint8Array): VirtualUser | undefined {
  const value = cdbLookupFile(path, login);
  if (value === undefined) return undefined;
  const text = Buffer.from(value).toString("utf8");
  try {
    return parseUserValue(Buffer.from(login).toString("utf8"), text);
  } catch (err) {
    const detail = err instanceof UserLineError ? err.message.replace(/^line 0: /, "") : String(err);
    throw new TempError(`unable to parse the entry in ${path}: ${detail}`);
  }
}

/**
 * The virtual user, or undefined when unknown. Throws TempError when the database cannot
 * be read. The login as given first, then as RFC 8265 prepares it (mod/auth/username.ts).
 */
export function lookupVirtualUser(path: string, login: Uint8Array): VirtualUser | undefined {
  const exact = lookupExact(path, login);
  if (exact !== undefined) return exact;
  const name = Buffer.from(login).toString("utf8");
  if (Buffer.compare(Buffer.from(name, "utf8"), login) !== 0) return undefined; // not UTF-8
  const prepared = prepareUsername(name);
  return prepared === name ? undefined : lookupExact(path, new Uint8Array(Buffer.from(prepared, "utf8")));
}

function lookupExact(path: string, login: Uint8Array): VirtualUser | undefined {
  if (login.length === 0 || login.includes(0x3a) || login.includes(0x0a)) return undefined;
  if (isCdbPath(path)) return lookupCdb(path, login);
  const name = Buffer.from(login).toString("utf8");
  // A login that is not UTF-8 cannot be in the text file (and must not match U+FFFD).
  if (Buffer.compare(Buffer.from(name, "utf8"), login) !== 0) return undefined;
  return lookupText(path, name);
}

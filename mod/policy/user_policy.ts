/**
 * Qpopper's user-name policies, applied before the password is checked: downcase-user,
 * trim-domain (user@domain -> user), auth-file (only listed users) and nonauth-file
 * (listed users refused). The lists hold one name per line, `#` comments. A refused
 * user gets the same answer as a wrong password (the caller sees only the reason for
 * its log), so nobody learns which users exist.
 */
import { readFileSync } from "node:fs";
import { TempError, describeSysError } from "../base/errors.ts";
import type { Policy } from "./resolve.ts";
import { prepareUsername } from "../auth/username.ts";

/**
 * A refusal is the policy's verdict, or (temporary) the policy could not be read: the server's
 * trouble, not the client's; `address`: the address is over its failure limit (nothing about the user).
 */
export type Admission = { user: Uint8Array } | { refused: string; temporary?: boolean; address?: boolean };

/** The user name as the policy wants it checked (downcased, domain trimmed). */
export function normaliseUser(user: Uint8Array, policy: Pick<Policy, "downcaseUser" | "trimDomain">): Uint8Array {
  let out = user;
  if (policy.trimDomain) {
    const at = out.indexOf(0x40); // "@"
    const pct = out.indexOf(0x25); // "%", the old source-route form
    const cut = [at, pct].filter((i) => i > 0).reduce((a, b) => Math.min(a, b), out.length);
    out = out.slice(0, cut);
  }
  if (policy.downcaseUser) out = out.map((c) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c));
  return out;
}

/** Reads a user list (one name per line, `#` comments, blanks ignored). Throws TempError when unreadable. */
export function readUserList(file: string): Set<string> {
  let text: string;
  try {
    text = readFileSync(file).toString("latin1");
  } catch (e) {
    throw new TempError(`unable to read user list ${file}: ${describeSysError(e)}`);
  }
  const names = new Set<string>();
  for (const raw of text.split("\n")) {
    const name = raw.replace(/#.*/, "").trim();
    if (name !== "") names.add(name);
  }
  return names;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The name as the user database finds it (RFC 8265, mod/auth/username.ts); undefined when not UTF-8. */
function preparedName(latin1: string): string | undefined {
  try {
    return prepareUsername(strictUtf8.decode(Buffer.from(latin1, "latin1")));
  } catch {
    return undefined;
  }
}

/**
 * Whether nonauth-file names this user. The user database finds "JOE", "Joe" and a decomposed
 * "jörg" as "joe" and "jörg" (RFC 8265), so a name is denied when it, or the name the
 * database would reach with it, is listed in either form: a listed user cannot get in by
 * typing the name differently.
 */
function denied(list: Set<string>, text: string): boolean {
  if (list.has(text)) return true;
  const prepared = preparedName(text);
  if (prepared === undefined) return false;
  for (const entry of list) if (preparedName(entry) === prepared) return true;
  return false;
}

/** Applies the user policies; unreadable lists throw TempError (the login is then a temporary failure). */
export function admitUser(user: Uint8Array, policy: Pick<Policy, "downcaseUser" | "trimDomain" | "authFile" | "nonauthFile">): Admission {
  const name = normaliseUser(user, policy);
  const text = Buffer.from(name).toString("latin1");
  // auth-file admits a name only as listed: "JOE" may reach an entry other than the listed "joe".
  if (policy.authFile !== undefined && !readUserList(policy.authFile).has(text)) return { refused: `not listed in auth-file ${policy.authFile}` };
  if (policy.nonauthFile !== undefined && denied(readUserList(policy.nonauthFile), text)) return { refused: `listed in nonauth-file ${policy.nonauthFile}` };
  return { user: name };
}

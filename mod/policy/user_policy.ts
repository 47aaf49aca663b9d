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

export type Admission = { user: Uint8Array } | { refused: string };

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

/** Applies the user policies; unreadable lists throw TempError (the login is then a temporary failure). */
export function admitUser(user: Uint8Array, policy: Pick<Policy, "downcaseUser" | "trimDomain" | "authFile" | "nonauthFile">): Admission {
  const name = normaliseUser(user, policy);
  const text = Buffer.from(name).toString("latin1");
  if (policy.authFile !== undefined && !readUserList(policy.authFile).has(text)) return { refused: `not listed in auth-file ${policy.authFile}` };
  if (policy.nonauthFile !== undefined && readUserList(policy.nonauthFile).has(text)) return { refused: `listed in nonauth-file ${policy.nonauthFile}` };
  return { user: name };
}

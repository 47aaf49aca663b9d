/**
 * System accounts: passwd through NSS (getpwnam_r, so LDAP and sss work), the hash
 * from shadow (getspnam_r). Missing shadow data we cannot read is temporary trouble
 * (exit 111), not a wrong password.
 */
import { accessSync, constants as fsConstants } from "node:fs";
import { TempError } from "../base/errors.ts";
import { getpwnam, getspnam, type PasswdEntry, type ShadowEntry } from "../sys/libc.ts";
import type { Account } from "./account.ts";
import { shadowRefusal } from "./shadow_policy.ts";

export interface SystemLookupOptions {
  /** Days since the epoch (injected so tests set the date). */
  today: number;
  /** The shadow file, checked for readability when NSS gives no shadow entry. */
  shadowFile: string;
}

/** Injected account sources, so tests can stand in for NSS. */
export interface SystemDatabases {
  getpwnam(login: Uint8Array): PasswdEntry | undefined;
  getspnam(login: Uint8Array): ShadowEntry | undefined;
}

export const NSS: SystemDatabases = { getpwnam, getspnam };

/** passwd's placeholder meaning "the hash lives in shadow". */
const SHADOWED = new Set(["x", "*NP*", "##"]);

function canRead(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The system account for `login`, or undefined when NSS knows no such user. Throws TempError. */
export function lookupSystemAccount(login: Uint8Array, options: SystemLookupOptions, db: SystemDatabases = NSS): Account | undefined {
  let pw: PasswdEntry | undefined;
  try {
    pw = db.getpwnam(login);
  } catch (err) {
    throw new TempError(`unable to look up the user in the passwd database: ${(err as { code?: string }).code ?? err}`);
  }
  if (!pw) return undefined;
  let sp: ShadowEntry | undefined;
  try {
    sp = db.getspnam(login);
  } catch (err) {
    throw new TempError(`unable to read the shadow database: ${(err as { code?: string }).code ?? err}`);
  }
  let hash: string | undefined = pw.passwd;
  let refusal: string | undefined;
  if (sp) {
    hash = sp.hash;
    refusal = shadowRefusal(sp, options.today);
  } else if (SHADOWED.has(pw.passwd) && !canRead(options.shadowFile)) {
    // glibc's files backend hides EACCES behind "not found": say what is wrong.
    throw new TempError(`unable to read ${options.shadowFile}: access denied`);
  }
  return {
    login: pw.name,
    uid: pw.uid,
    gid: pw.gid,
    home: pw.dir,
    shell: pw.shell,
    hash,
    source: "system",
    refusal,
  };
}

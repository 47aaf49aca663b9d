/**
 * POPPIN_HOME_BASE: a virtual user's home must be inside this directory. Checked twice: by
 * its words when the account is found (authenticate(): no `..`, not a longer prefix, not the
 * base itself; no file is looked at), and by where it leads once the links on its way are
 * resolved, which only the user's own process does, after its uid switch (enterHome, or
 * serve --inline under -u, which runs as that uid): a process with more rights never follows
 * links the home's owner can change, nor waits on a filesystem behind them that does not answer.
 */
import { realpathSync } from "node:fs";
import { isAbsolute, relative, resolve } from "../base/posix_path.ts";
import { TempError, describeSysError } from "../base/errors.ts";
import type { Account } from "./account.ts";
import { AccountRefused } from "./request.ts";

function inside(home: string, base: string): boolean {
  const rel = relative(base, home);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/** Whether `home` is inside `base` by its words alone (absolute, no `..` component). */
export function homeInsideByName(home: string, base: string): boolean {
  if (!isAbsolute(home) || !isAbsolute(base) || home.split("/").includes("..")) return false;
  return inside(resolve(home), resolve(base));
}

/**
 * Refuses (AccountRefused, as authenticate() refuses an account) a virtual account whose home,
 * reached as `realHome` (getcwd after chdir, or realpath as the owner), is not inside `base`.
 */
export function checkRealHome(account: Pick<Account, "login" | "home" | "source">, realHome: string, base: string | undefined): void {
  if (account.source !== "virtual" || base === undefined) return;
  let realBase: string;
  try {
    realBase = realpathSync(base);
  } catch (err) {
    throw new TempError(`unable to resolve POPPIN_HOME_BASE ${base}: ${describeSysError(err)}`);
  }
  if (!inside(realHome, realBase)) throw new AccountRefused(`home ${account.home} is outside POPPIN_HOME_BASE ${base}`, Buffer.from(account.login));
}

import { lstatSync, readlinkSync, symlinkSync, renameSync, unlinkSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { TempError, PermError, describeSysError } from "./errors.ts";

export interface InstallResult {
  created: string[];
  unchanged: string[];
  replaced: string[];
}

/** Whether `path` is a symlink that resolves to the binary `target`. */
function linksTo(path: string, target: string): boolean {
  try {
    return realpathSync(path) === realpathSync(target) || resolve(readlinkSync(path)) === resolve(target);
  } catch {
    return false;
  }
}

/**
 * Makes `dir/NAME -> binary` for every name; idempotent. A name that exists and is
 * not already a symlink to the binary is refused unless `force`, and then replaced
 * atomically (new symlink under a temporary name, renamed over the old).
 */
export function installSymlinks(binary: string, dir: string, names: readonly string[], force: boolean): InstallResult {
  const result: InstallResult = { created: [], unchanged: [], replaced: [] };
  const conflicts: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let exists = true;
    try {
      lstatSync(path);
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw new TempError(`unable to stat ${path}: ${describeSysError(err)}`);
      exists = false;
    }
    if (exists && linksTo(path, binary)) result.unchanged.push(name);
    else if (exists && !force) conflicts.push(path);
  }
  if (conflicts.length > 0) {
    throw new PermError(`refusing to replace ${conflicts.join(", ")}: not a symlink to ${binary} (use --force)`);
  }
  for (const name of names) {
    if (result.unchanged.includes(name)) continue;
    const path = join(dir, name);
    const tmp = join(dir, `.${name}.poppin-install.${process.pid}`);
    try {
      try { unlinkSync(tmp); } catch { /* not there */ }
      symlinkSync(binary, tmp);
      let existed = true;
      try { lstatSync(path); } catch { existed = false; }
      renameSync(tmp, path);
      (existed ? result.replaced : result.created).push(name);
    } catch (err) {
      throw new TempError(`unable to create ${path}: ${describeSysError(err)}`);
    }
  }
  return result;
}

/**
 * The program image this process runs, for starting helpers that must be this very version.
 * `poppin install` (and dpkg) replace the binary by rename while serve runs: a helper started
 * from the path afterwards would be the new version, speaking its protocol to the old serve
 * (or nothing at all once the binary is removed). /proc/self/exe, resolved by the kernel in
 * the process that execs it, is the inode that process runs, deleted or not; every helper of
 * serve --inline is started from serve's image or from a helper's, so they all stay one version.
 */
import { readlinkSync } from "node:fs";

const SELF_EXE = "/proc/self/exe";

/** "/proc/self/exe" when it names `execPath` now (Linux, nothing replaced yet), else `execPath`. */
export function selfImage(execPath: string): string {
  try {
    return readlinkSync(SELF_EXE) === execPath ? SELF_EXE : execPath;
  } catch {
    return execPath;
  }
}

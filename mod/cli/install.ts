/**
 * `poppin install`: the binary, its classic names and its man pages under a prefix.
 * Every file is written under a temporary name in its directory, fsynced and renamed
 * into place, so a running service never sees half a binary and a crash leaves the
 * old installation or the new one.
 */
import {
  chmodSync, closeSync, existsSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, readdirSync,
  readlinkSync, realpathSync, renameSync, statSync, symlinkSync, unlinkSync, writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { TempError, PermError, describeSysError } from "../base/errors.ts";
import { fsyncDirectory } from "../cdb/writer.ts";
import { dpkgOwners } from "./dpkg_owner.ts";

export interface InstallResult {
  created: string[];
  unchanged: string[];
  replaced: string[];
}

export interface InstallPlan {
  /** The binary to copy (the running one). */
  binary: string;
  /** PREFIX: the binary goes to PREFIX/bin/poppin. */
  prefix: string;
  /** Names to link to PREFIX/bin/poppin beside it. */
  names: readonly string[];
  /** Names an older install linked and this one does not (generic applet names): such links to poppin are removed. */
  staleNames?: readonly string[];
  /** Where compiled man pages are (a directory holding man5/, man8/ or *.5/*.8 files), if anywhere. */
  manSource?: string;
  force: boolean;
  /** dpkg's database directory (dpkg-query --admindir; default dpkg's own): files a Debian package owns are never replaced. */
  dpkgAdminDir?: string;
}

export interface InstallReport {
  binaryPath: string;
  binary: "created" | "replaced" | "unchanged";
  links: InstallResult;
  /** Links of an older install removed (generic names such as users, convert). */
  removed: string[];
  manPages: string[];
  manDir?: string;
}

const COPY_CHUNK = 1 << 20;

/** A temporary name beside `path`, removed first if a killed run left it. */
function tempBeside(path: string): string {
  const tmp = join(dirname(path), `.${basename(path)}.poppin-install.${process.pid}`);
  try { unlinkSync(tmp); } catch { /* not there */ }
  removeStaleTemporaries(path);
  return tmp;
}

/**
 * Temporary copies an install killed halfway left beside `path` (a whole binary each,
 * .poppin.poppin-install.PID): removed once their process is gone.
 */
function removeStaleTemporaries(path: string): void {
  const prefix = `.${basename(path)}.poppin-install.`;
  let names: string[];
  try { names = readdirSync(dirname(path)); } catch { return; }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // another install is running
    } catch (err) {
      if ((err as { code?: string }).code === "EPERM") continue;
    }
    try { unlinkSync(join(dirname(path), name)); } catch { /* gone already */ }
  }
}

/**
 * Makes `dir` and its missing parents with mode 0755 whatever the umask (as install -d does):
 * under root's umask 077 a 0700 PREFIX/bin would keep the log account and every mail user
 * from running the binary.
 */
function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d, 0o755);
      chmodSync(d, 0o755);
    } catch (err) {
      if ((err as { code?: string }).code === "EEXIST") continue;
      throw new TempError(`unable to create ${d}: ${describeSysError(err)}`);
    }
  }
  if (!statSync(dir).isDirectory()) throw new TempError(`unable to install into ${dir}: not a directory`);
}

/** Copies `src` to `dest` with `mode`: temporary file, fsync, rename over the old one. */
export function copyAtomically(src: string, dest: string, mode: number): void {
  const tmp = tempBeside(dest);
  let inFd: number | undefined;
  let outFd: number | undefined;
  try {
    inFd = openSync(src, "r");
    outFd = openSync(tmp, "wx", mode);
    fchmodSync(outFd, mode); // the umask must not take the binary from other accounts
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    for (;;) {
      const n = readSync(inFd, buf, 0, buf.length, null);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += writeSync(outFd, buf, off, n - off);
    }
    fsyncSync(outFd);
    closeSync(outFd);
    outFd = undefined;
    renameSync(tmp, dest);
  } catch (err) {
    if (outFd !== undefined) closeSync(outFd);
    try { unlinkSync(tmp); } catch { /* never made */ }
    throw new TempError(`unable to install ${dest}: ${describeSysError(err)}`);
  } finally {
    if (inFd !== undefined) closeSync(inFd);
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a), sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** Whether `path` is a symlink to `target` or one an earlier poppin install made (it names a file called poppin). */
export function isOurLink(path: string, target: string): "same" | "older" | false {
  let link: string;
  try {
    link = readlinkSync(path);
  } catch {
    return false;
  }
  try {
    if (realpathSync(path) === realpathSync(target)) return "same";
  } catch { /* dangling: an old install's binary is gone */ }
  if (resolve(dirname(path), link) === resolve(target)) return "same";
  return /^poppin([-.].*)?$/.test(basename(link)) ? "older" : false;
}

/**
 * Makes `dir/NAME -> poppin` for every name; idempotent. A name that exists and is neither
 * a link to the binary nor one an older install made is refused unless `force`, and then
 * replaced atomically (new symlink under a temporary name, renamed over the old).
 */
export function installSymlinks(binary: string, dir: string, names: readonly string[], force: boolean, linkText: string = binary, dpkgAdminDir?: string): InstallResult {
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
    const ours = exists ? isOurLink(path, binary) : false;
    if (ours === "same" && readlinkSync(path) === linkText) result.unchanged.push(name);
    else if (exists && !ours) conflicts.push(path);
  }
  refuseConflicts(conflicts, binary, force, dpkgAdminDir);
  for (const name of names) {
    if (result.unchanged.includes(name)) continue;
    const path = join(dir, name);
    const tmp = tempBeside(path);
    try {
      symlinkSync(linkText, tmp);
      let existed = true;
      try { lstatSync(path); } catch { existed = false; }
      renameSync(tmp, path);
      (existed ? result.replaced : result.created).push(name);
    } catch (err) {
      try { unlinkSync(tmp); } catch { /* never made */ }
      throw new TempError(`unable to create ${path}: ${describeSysError(err)}`);
    }
  }
  return result;
}

/** Compiled man pages under `source`: every `*.N` in it or in its `manN/` directories (N = 1..8). */
export function findManPages(source: string): { path: string; section: string; name: string }[] {
  const found: { path: string; section: string; name: string }[] = [];
  const scan = (dir: string): void => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const m = /\.([1-8])$/.exec(e.name);
      if (e.isFile() && m) found.push({ path: join(dir, e.name), section: m[1]!, name: e.name });
      else if (e.isDirectory() && /^man[1-8]$/.test(e.name)) scan(join(dir, e.name));
    }
  };
  scan(source);
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** Installs the binary, the links and the man pages as `plan` says. */
export function install(plan: InstallPlan): InstallReport {
  const prefix = resolve(plan.prefix);
  if (existsSync(prefix) && !statSync(prefix).isDirectory()) throw new TempError(`unable to install into ${prefix}: not a directory`);
  const binDir = join(prefix, "bin");
  makeDir(binDir);
  const binaryPath = join(binDir, "poppin");
  let existing: "none" | "file" | "other" = "none";
  try {
    const st = lstatSync(binaryPath);
    existing = st.isFile() || st.isSymbolicLink() ? "file" : "other";
  } catch { /* not there */ }
  if (existing === "other") throw new PermError(`refusing to replace ${binaryPath}: not a file`);
  const packaged = existing === "file" ? dpkgOwners([binaryPath], plan.dpkgAdminDir).get(binaryPath) : undefined;
  let binaryState: InstallReport["binary"];
  if (existing === "file" && sameFile(plan.binary, binaryPath) && !lstatSync(binaryPath).isSymbolicLink()) {
    binaryState = "unchanged";
  } else {
    if (packaged !== undefined) {
      throw new PermError(`refusing to replace ${binaryPath}: it belongs to the Debian package ${packaged} (upgrade that with dpkg -i, or install under /usr/local)`);
    }
    // Check the links before touching anything, so a refusal changes nothing.
    installSymlinksDryRun(binaryPath, binDir, plan.names, plan.force, plan.dpkgAdminDir);
    copyAtomically(plan.binary, binaryPath, 0o755);
    binaryState = existing === "file" ? "replaced" : "created";
  }
  const links = installSymlinks(binaryPath, binDir, plan.names, plan.force, "poppin", plan.dpkgAdminDir);
  const removed: string[] = [];
  for (const name of plan.staleNames ?? []) {
    const path = join(binDir, name);
    if (!isOurLink(path, binaryPath)) continue; // not a link to poppin: someone else's program
    try {
      unlinkSync(path);
      removed.push(name);
    } catch (err) {
      throw new TempError(`unable to remove ${path}: ${describeSysError(err)}`);
    }
  }
  fsyncDirectory(binDir);
  const manPages: string[] = [];
  let manDir: string | undefined;
  if (plan.manSource) {
    manDir = join(prefix, "share", "man");
    for (const page of findManPages(plan.manSource).filter((p) => p.name.startsWith("poppin"))) {
      const dest = join(manDir, `man${page.section}`, page.name);
      if (resolve(page.path) === resolve(dest)) continue;
      makeDir(dirname(dest));
      copyAtomically(page.path, dest, 0o644);
      manPages.push(dest);
    }
  }
  return { binaryPath, binary: binaryState, links, removed, manPages, manDir };
}

function installSymlinksDryRun(binary: string, dir: string, names: readonly string[], force: boolean, dpkgAdminDir?: string): void {
  const conflicts = names.map((n) => join(dir, n)).filter((path) => {
    try { lstatSync(path); } catch { return false; }
    return !isOurLink(path, binary);
  });
  refuseConflicts(conflicts, binary, force, dpkgAdminDir);
}

/**
 * Files in the way: a Debian package's are refused even with --force (dpkg would put its file
 * back at the package's next upgrade, and dpkg -V would report it changed); others without it.
 */
function refuseConflicts(conflicts: readonly string[], binary: string, force: boolean, dpkgAdminDir?: string): void {
  if (conflicts.length === 0) return;
  const owned = dpkgOwners(conflicts, dpkgAdminDir);
  if (owned.size > 0) {
    const list = [...owned].map(([path, pkg]) => `${path} (package ${pkg})`).join(", ");
    throw new PermError(`refusing to replace ${list}: a Debian package's file, which its next upgrade would put back; ` +
      "install under /usr/local (the default, ahead of /usr/bin in PATH), or move the package's file aside first: " +
      `dpkg-divert --local --rename --add ${[...owned.keys()][0]}`);
  }
  if (!force) throw new PermError(`refusing to replace ${conflicts.join(", ")}: not a symlink to ${binary} (use --force)`);
}

/**
 * Where the man pages of the running binary are: `man/` beside it (dist/poppin and
 * dist/man after `npm run man`), or PREFIX/share/man when it is already installed.
 */
export function manSourceFor(binary: string): string | undefined {
  const dir = dirname(binary);
  for (const candidate of [join(dir, "man"), join(dir, "..", "share", "man")]) {
    if (findManPages(candidate).some((p) => p.name.startsWith("poppin"))) return candidate;
  }
  return undefined;
}

/**
 * `poppin install --uninstall`: takes away what `poppin install` put under a prefix: the links
 * to poppin in PREFIX/bin (classic names, and generic ones an older install made), the binary,
 * and PREFIX/share/man/man*\/poppin*. Files of other programs stay; so do the directories.
 * A binary that processes still run (a service) is left alone unless forced: supervise would
 * restart them from a path that no longer exists.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { fsyncDirectory } from "../cdb/writer.ts";
import { dpkgOwners } from "./dpkg_owner.ts";
import { findManPages, isOurLink } from "./install.ts";

export interface UninstallPlan {
  prefix: string;
  /** Every name install may have linked (classic and generic). */
  names: readonly string[];
  force: boolean;
  dpkgAdminDir?: string;
  procRoot?: string;
}

export interface UninstallReport {
  removed: string[];
}

/** Processes whose program is `binary` (their /proc/PID/exe), with their command lines. */
export function processesRunning(binary: string, procRoot = "/proc", self = process.pid): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  let pids: string[] = [];
  try { pids = readdirSync(procRoot).filter((p) => /^\d+$/.test(p)); } catch { return found; }
  for (const pid of pids) {
    let exe: string;
    try { exe = readlinkSync(join(procRoot, pid, "exe")); } catch { continue; }
    if (exe !== binary || Number(pid) === self) continue;
    let command = "";
    try { command = readFileSync(join(procRoot, pid, "cmdline"), "latin1").split("\0").filter(Boolean).join(" "); } catch { /* gone */ }
    found.push({ pid: Number(pid), command });
  }
  return found;
}

function remove(path: string, removed: string[]): void {
  try {
    unlinkSync(path);
    removed.push(path);
  } catch (err) {
    throw new TempError(`unable to remove ${path}: ${describeSysError(err)}`);
  }
}

export function uninstall(plan: UninstallPlan): UninstallReport {
  const prefix = resolve(plan.prefix);
  const binDir = join(prefix, "bin");
  const binary = join(binDir, "poppin");
  let binaryKind: "file" | "none" | "other" = "none";
  try {
    const st = lstatSync(binary);
    binaryKind = st.isFile() ? "file" : "other";
  } catch { /* not there */ }
  if (binaryKind === "other") throw new PermError(`refusing to remove ${binary}: not a file poppin install made`);
  if (binaryKind === "file") {
    const owner = dpkgOwners([binary], plan.dpkgAdminDir).get(binary);
    if (owner !== undefined) throw new PermError(`refusing to remove ${binary}: it belongs to the Debian package ${owner} (remove that with dpkg -r ${owner})`);
    const running = processesRunning(binary, plan.procRoot);
    if (running.length > 0 && !plan.force) {
      const who = running.slice(0, 3).map((p) => `pid ${p.pid} (${p.command.slice(0, 80)})`).join(", ");
      throw new PermError(`refusing to remove ${binary}: ${running.length} process${running.length === 1 ? "" : "es"} still run${running.length === 1 ? "s" : ""} it, ${who}; ` +
        "stop the services that use it first (svc -d DIR, systemctl stop NAME), or --force");
    }
  }
  const removed: string[] = [];
  for (const name of plan.names) {
    const path = join(binDir, name);
    if (isOurLink(path, binary)) remove(path, removed);
  }
  if (binaryKind === "file") remove(binary, removed);
  if (removed.length > 0) fsyncDirectory(binDir);
  const manDir = join(prefix, "share", "man");
  for (const page of findManPages(manDir).filter((p) => p.name.startsWith("poppin"))) remove(page.path, removed);
  return { removed };
}

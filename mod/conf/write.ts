/**
 * Makes a ServicePlan on disk as djb's generic-conf does: mkdir DIR (refusing one that
 * exists), chmod, then each entry created, written, fsynced, chowned and chmodded.
 * Errors are TempErrors worded as qmail-conf's ("unable to create /x/run: ...").
 */
import { chmodSync, chownSync, closeSync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ByteSource } from "../cdb/byte_source.ts";
import { TempError } from "../base/errors.ts";
import { djbErrorText } from "../log/djb_errors.ts";
import { compileRulesFile } from "../rules/compile.ts";
import { checkRootDestination } from "../sys/become_owner.ts";
import type { PlanEntry, ServicePlan } from "./plan.ts";

function fail(what: string, path: string, err: unknown): never {
  throw new TempError(`${what} ${path}: ${djbErrorText(err)}`);
}

function attempt(what: string, path: string, action: () => void): void {
  try {
    action();
  } catch (err) {
    fail(what, path, err);
  }
}

function makeEntry(dir: string, entry: PlanEntry): void {
  const path = join(dir, entry.path);
  if (entry.kind === "dir") {
    attempt("unable to create", path, () => mkdirSync(path, 0o700));
  } else {
    let fd = -1;
    attempt("unable to create", path, () => { fd = openSync(path, "w", 0o600); });
    try {
      attempt("unable to write", path, () => {
        const bytes = Buffer.from(entry.content, "utf8");
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off);
        fsyncSync(fd);
      });
    } finally {
      closeSync(fd);
    }
  }
  if (entry.owner) attempt("unable to set owner of", path, () => chownSync(path, entry.owner!.uid, entry.owner!.gid));
  attempt("unable to set mode of", path, () => chmodSync(path, entry.mode));
}

/** tcp -> tcp.cdb, what `make` does, so the service starts with its deny-all rules in force. */
function compileRules(dir: string): void {
  const source = join(dir, "tcp");
  let fd = -1;
  attempt("unable to read", source, () => { fd = openSync(source, "r"); });
  try {
    compileRulesFile(new ByteSource(fd), join(dir, "tcp.cdb"), join(dir, "tcp.tmp"));
  } finally {
    closeSync(fd);
  }
}

export function writePlan(plan: ServicePlan): void {
  // svscan runs DIR/run as root: a directory of a user's on DIR's path (or a link a user made,
  // or one open to others without the sticky bit) lets that user put their own run there.
  checkRootDestination(plan.dir);
  attempt("unable to create", plan.dir, () => mkdirSync(plan.dir, 0o700));
  attempt("unable to set mode of", plan.dir, () => chmodSync(plan.dir, plan.dirMode));
  for (const entry of plan.entries) makeEntry(plan.dir, entry);
  if (plan.compileRules) compileRules(plan.dir);
}

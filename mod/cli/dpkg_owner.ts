/**
 * Which Debian package a file belongs to, as `dpkg -S` answers, read from dpkg's database
 * (/var/lib/dpkg/info/PKG.list) so install needs no dpkg run. A file another package
 * diverted away (dpkg-divert --rename) no longer belongs to it: the name is free. With
 * Debian's merged /usr, /bin/x and /usr/bin/x are one file listed under either name.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const DPKG_ADMIN_DIR = "/var/lib/dpkg";

/** The names dpkg may list `path` under: itself and its /usr-merged twin. */
function listedNames(path: string): string[] {
  const m = /^\/(bin|sbin|lib[^/]*)\//.exec(path);
  if (m) return [path, `/usr${path}`];
  const u = /^\/usr(\/(?:bin|sbin|lib[^/]*)\/.*)$/.exec(path);
  return u ? [path, u[1]!] : [path];
}

/** Paths dpkg-divert moved away (the first line of each three-line entry of `diversions`). */
function diverted(adminDir: string): Set<string> {
  let lines: string[];
  try {
    lines = readFileSync(join(adminDir, "diversions"), "utf8").split("\n");
  } catch {
    return new Set();
  }
  const out = new Set<string>();
  for (let i = 0; i + 2 < lines.length; i += 3) if (lines[i]) out.add(lines[i]!);
  return out;
}

/** The package that owns each of `paths` (those it finds); empty when there is no dpkg database. */
export function dpkgOwners(paths: readonly string[], adminDir: string = DPKG_ADMIN_DIR): Map<string, string> {
  const owners = new Map<string, string>();
  if (paths.length === 0) return owners;
  const info = join(adminDir, "info");
  let lists: string[];
  try {
    lists = readdirSync(info).filter((f) => f.endsWith(".list"));
  } catch {
    return owners;
  }
  const away = diverted(adminDir);
  const wanted = new Map<string, string[]>();
  for (const path of paths) {
    const names = listedNames(path);
    if (names.some((n) => away.has(n))) continue;
    for (const n of names) wanted.set(n, [...(wanted.get(n) ?? []), path]);
  }
  if (wanted.size === 0) return owners;
  for (const list of lists) {
    let text: string;
    try { text = readFileSync(join(info, list), "utf8"); } catch { continue; }
    for (const line of text.split("\n")) {
      for (const path of wanted.get(line) ?? []) {
        if (!owners.has(path)) owners.set(path, list.slice(0, -".list".length).replace(/:.*$/, ""));
      }
    }
  }
  return owners;
}

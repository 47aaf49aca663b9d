/**
 * Which Debian package a file belongs to, as the sysadmin would ask: `dpkg-query -S PATH`
 * (dpkg's own answer; its database is not ours to read). A name the sysadmin diverted
 * (dpkg-divert --local) is free: dpkg installs the package's file elsewhere. A name another
 * package diverted belongs to that package. With Debian's merged /usr, /bin/x and /usr/bin/x
 * are one file that dpkg may list under either name. No dpkg (not Debian): no owners.
 */

/** The names dpkg may list `path` under: itself and its /usr-merged twin. */
function listedNames(path: string): string[] {
  const m = /^\/(bin|sbin|lib[^/]*)\//.exec(path);
  if (m) return [path, `/usr${path}`];
  const u = /^\/usr(\/(?:bin|sbin|lib[^/]*)\/.*)$/.exec(path);
  return u ? [path, u[1]!] : [path];
}

/**
 * The package that owns each of `paths` (those it finds). `adminDir`: dpkg's database
 * directory (dpkg-query --admindir), for another root.
 */
export function dpkgOwners(paths: readonly string[], adminDir?: string): Map<string, string> {
  const owners = new Map<string, string>();
  const names = [...new Set(paths.flatMap(listedNames))].filter((n) => !/[*?[\\]/.test(n));
  if (names.length === 0) return owners;
  let out: string;
  try {
    const r = Bun.spawnSync(["dpkg-query", ...(adminDir === undefined ? [] : [`--admindir=${adminDir}`]), "-S", ...names], {
      stdin: "ignore", stdout: "pipe", stderr: "ignore", env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
    });
    out = r.stdout.toString();
  } catch {
    return owners; // no dpkg-query: not a Debian system
  }
  const local = new Set<string>();
  const byName = new Map<string, string>();
  for (const line of out.split("\n")) {
    if (line.startsWith("local diversion from: ")) { local.add(line.slice("local diversion from: ".length)); continue; }
    const diverted = /^diversion by (\S+) from: (.*)$/.exec(line);
    if (diverted) { byName.set(diverted[2]!, diverted[1]!); continue; }
    if (/^(local )?diversion /.test(line)) continue;
    const m = /^([^:]+(?::[^:\s]+)?(?:, [^:]+(?::[^:\s]+)?)*): (\/.*)$/.exec(line);
    if (m && !byName.has(m[2]!)) byName.set(m[2]!, m[1]!.split(", ")[0]!.replace(/:.*$/, ""));
  }
  for (const path of paths) {
    const aliases = listedNames(path);
    if (aliases.some((n) => local.has(n))) continue;
    const owner = aliases.map((n) => byName.get(n)).find((o) => o !== undefined);
    if (owner !== undefined) owners.set(path, owner);
  }
  return owners;
}

/** A dpkg database of its own for install's tests (dpkg-query --admindir). */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";

/** A dpkg database (dpkg-query --admindir): `owned` maps each package to the paths it lists. */
export function fakeDpkg(owned: Record<string, string[]>): string {
  const admin = tempDir("dpkg");
  mkdirSync(join(admin, "info"));
  mkdirSync(join(admin, "updates"));
  let status = "";
  for (const [pkg, paths] of Object.entries(owned)) {
    status += `Package: ${pkg}\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: x\n\n`;
    writeFileSync(join(admin, "info", `${pkg}.list`), `/.\n${paths.join("\n")}\n`);
  }
  writeFileSync(join(admin, "status"), status);
  return admin;
}

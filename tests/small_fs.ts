/**
 * Small tmpfs file systems for full-disk tests (the tests run as root). Not tempDir(): a
 * mounted directory must be unmounted before it can be removed, so each test file calls
 * smallFileSystems() at top level and the returned `cleanup` from its own afterAll.
 */
import { expect } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SmallFileSystems {
  /** Mounts a tmpfs of `size` at a new directory named `name`; returns its path. */
  mount(name: string, size?: string): string;
  /** Unmounts every file system and removes their base directory. */
  cleanup(): void;
}

export function smallFileSystems(label: string): SmallFileSystems {
  const base = mkdtempSync(join(tmpdir(), `poppin-${label}-`));
  const mounts: string[] = [];
  return {
    mount(name, size = "256k") {
      const dir = join(base, name);
      mkdirSync(dir);
      const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
      if (r.exitCode !== 0) throw new Error(`mount tmpfs failed (the tests need root): ${r.stderr.toString()}`);
      mounts.push(dir);
      return dir;
    },
    cleanup() {
      for (const m of mounts.splice(0)) Bun.spawnSync(["umount", m]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Fills the file system holding `dir` with one file; returns its path. */
export function fillFileSystem(dir: string): string {
  const filler = join(dir, "filler");
  const r = Bun.spawnSync(["sh", "-c", `cat /dev/zero > "${filler}"`]);
  expect(r.stderr.toString()).toContain("No space left on device");
  return filler;
}

/**
 * Temporary directories removed after the calling test file. tests/helpers.ts's tempDir
 * registers its afterAll once, in whichever file first imports it, so directories made
 * by later files in the same run outlive the run; `ownTempDirs()` is called at the top
 * of each file that needs them and cleans up after that file.
 */
import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { tempDir } from "../helpers.ts";

export function ownTempDirs(): (label: string) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return (label) => {
    const dir = tempDir(label);
    made.push(dir);
    return dir;
  };
}

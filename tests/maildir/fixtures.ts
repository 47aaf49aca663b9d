/** Helpers for Maildir tests: make a Maildir and put messages into it with chosen names and mtimes. */
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, utimesSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";

const SHM = "/dev/shm";
const SHM_NEEDED_BYTES = 512 * 1024 * 1024;
const shmDirs: string[] = [];

/**
 * Removes the directories fastTempDir made. bun test evaluates this module once for all the
 * test files of a run (and fires no "exit" event), so each test file registers this itself:
 * `afterAll(removeFastTempDirs)`.
 */
export function removeFastTempDirs(): void {
  for (const dir of shmDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A temporary directory in memory (/dev/shm) when there is room, else on disk: tests that
 * make thousands of files must not depend on how busy a shared disk is.
 */
export function fastTempDir(label: string): string {
  try {
    accessSync(SHM, constants.W_OK);
    const fs = statfsSync(SHM);
    if (fs.bavail * fs.bsize >= SHM_NEEDED_BYTES) {
      const dir = mkdtempSync(join(SHM, `poppin-${label}-`));
      shmDirs.push(dir);
      return dir;
    }
  } catch {
    // No usable /dev/shm: fall back to the disk.
  }
  return tempDir(label);
}

export function makeMaildir(label = "md"): string {
  const dir = join(fastTempDir(label), "Maildir");
  for (const sub of ["", "tmp", "new", "cur"]) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
  return dir;
}

/** Writes `body` as DIR/SUB/NAME; `mtimeSec` sets its mtime (and atime). Returns the path. */
export function putMessage(dir: string, sub: "new" | "cur" | "tmp", name: string, body: string | Uint8Array, mtimeSec?: number): string {
  const path = join(dir, sub, name);
  const bytes = typeof body === "string" ? Buffer.from(body, "latin1") : body;
  const fd = openSync(path, "w", 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    closeSync(fd);
  }
  if (mtimeSec !== undefined) utimesSync(path, mtimeSec, mtimeSec);
  return path;
}

export function crlf(body: string): number {
  return Buffer.byteLength(body.replace(/\r?\n/g, "\r\n"), "latin1");
}

/**
 * Opening files another user may have put in place (mod/sys/owned_file.ts): never through a
 * link, never blocking on a FIFO, never a file with another owner or a second link;
 * creating only exclusively.
 */
import { describe, expect, test } from "bun:test";
import { chownSync, closeSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, tempDir } from "../helpers.ts";
import { checkRealDirectory, createExclusive, openOwnedAppend, openOwnedFile, UntrustedFile } from "../../mod/sys/owned_file.ts";

describe("openOwnedFile", () => {
  const dir = tempDir("owned");
  const mine = join(dir, "mine");
  writeFileSync(mine, "data");

  test("a regular file of one of the owners, with one link, opens", () => {
    const { fd, stat } = openOwnedFile(mine, "read", [0]);
    expect(stat.size).toBe(4);
    closeSync(fd);
  });

  test("a link, a FIFO (without hanging), a second hard link, another owner: UntrustedFile", () => {
    const link = join(dir, "link");
    symlinkSync(mine, link);
    expect(() => openOwnedFile(link, "read", [0])).toThrow(UntrustedFile);
    const fifo = join(dir, "fifo");
    expect(run(["mkfifo", fifo]).code).toBe(0);
    expect(() => openOwnedFile(fifo, "read", [0])).toThrow("is not a regular file");
    const hard = join(dir, "hard");
    linkSync(mine, hard);
    expect(() => openOwnedFile(hard, "readwrite", [0])).toThrow("has 2 links");
    const theirs = join(dir, "theirs");
    writeFileSync(theirs, "x");
    chownSync(theirs, 4242, 4242);
    expect(() => openOwnedFile(theirs, "readwrite", [0])).toThrow("belongs to uid 4242");
    const trusted = openOwnedFile(theirs, "read", [0, 4242]);
    expect(trusted.stat.uid).toBe(4242);
    closeSync(trusted.fd);
  });

  test("a missing file is the system's ENOENT", () => {
    expect(() => openOwnedFile(join(dir, "nope"), "read", [0])).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});

describe("createExclusive and openOwnedAppend", () => {
  test("never an existing name, never through a link (dangling or not)", () => {
    const dir = tempDir("owned-create");
    const target = join(dir, "target");
    const link = join(dir, "link");
    symlinkSync(target, link);
    expect(() => createExclusive(link, 0o600)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    expect(() => openOwnedAppend(link, 0o600, 0)).toThrow("is a symbolic link");
    expect(() => readFileSync(target)).toThrow();
    closeSync(createExclusive(join(dir, "new"), 0o600));
    expect(() => createExclusive(join(dir, "new"), 0o600)).toThrow(expect.objectContaining({ code: "EEXIST" }));
  });

  test("checkRealDirectory: a directory yes, a link to one no, another owner's no", () => {
    const dir = tempDir("owned-dir");
    const real = join(dir, "real");
    mkdirSync(real);
    checkRealDirectory(real, 0);
    symlinkSync(real, join(dir, "link"));
    expect(() => checkRealDirectory(join(dir, "link"))).toThrow("is a symbolic link");
    chownSync(real, 4242, 4242);
    expect(() => checkRealDirectory(real, 0)).toThrow("belongs to uid 4242");
  });
});

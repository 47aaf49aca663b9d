/** The in-place journal, step by step: a crash after any step is finished by recoverJournal. */
import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { recoverJournal, writeJournal } from "../../mod/mbox/journal.ts";

const OLD = "From a Mon Jan  1 00:00:00 2024\nSubject: a\n\none\n\nFrom b Mon Jan  1 00:00:00 2024\nSubject: b\n\ntwo\n\n";
const NEW = "From b Mon Jan  1 00:00:00 2024\nSubject: b\nStatus: RO\n\ntwo\n\n";

/** Sets up a spool holding OLD and a ready journal that turns it into NEW; `crash` does part of the replay by hand. */
function crashedAt(crash: (fd: number) => void, state: "ready" | "writing" = "ready"): string {
  const dir = tempDir("mbox-journal");
  const spool = join(dir, "spool");
  writeFileSync(spool, OLD);
  const fd = openSync(spool, "r+");
  const journal = join(dir, "journal");
  const j = writeJournal(journal, { p: 0, n: NEW.length, e: OLD.length, dev: fstatSync(fd).dev, ino: fstatSync(fd).ino }, (write) => write(Buffer.from(NEW)));
  closeSync(j.fd);
  if (state === "writing") {
    const jfd = openSync(journal, "r+");
    writeSync(jfd, "PMJ2 writing", 0);
    closeSync(jfd);
  }
  crash(fd);
  const did = recoverJournal(journal, fd);
  closeSync(fd);
  expect(existsSync(journal)).toBe(false);
  return `${did}:${readFileSync(spool, "latin1")}`;
}

describe("journal recovery", () => {
  test("killed before the spool was touched, half-way through the copy, after the copy, after the cut", () => {
    expect(crashedAt(() => {})).toBe(`replayed:${NEW}`);
    expect(crashedAt((fd) => writeSync(fd, NEW.slice(0, 20), 0))).toBe(`replayed:${NEW}`);
    expect(crashedAt((fd) => writeSync(fd, NEW, 0))).toBe(`replayed:${NEW}`);
    expect(crashedAt((fd) => { writeSync(fd, NEW, 0); ftruncateSync(fd, NEW.length); })).toBe(`replayed:${NEW}`);
  });

  test("a journal still being written is dropped and the spool left as it was", () => {
    expect(crashedAt(() => {}, "writing")).toBe(`dropped:${OLD}`);
  });

  test("mail appended after a crash (a delivery broke the stale lock) is kept after the replayed part", () => {
    const late = "From c Mon Jan  1 00:00:00 2024\nSubject: c\n\nlate\n\n";
    expect(crashedAt((fd) => { writeSync(fd, NEW.slice(0, 10), 0); writeSync(fd, late, OLD.length); })).toBe(`replayed:${NEW}${late}`);
  });
});

/** The in-place journal, step by step: a crash after any step is finished by recoverJournal. */
import { describe, expect, test } from "bun:test";
import { chownSync, closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { recoverJournal, writeJournal } from "../../mod/mbox/journal.ts";
import { scanWithCache } from "../../mod/mbox/scan_cache.ts";

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

/** A spool holding OLD, open read-write, and a journal path beside it. */
function spoolWithJournalPath(label: string): { dir: string; spool: string; fd: number; journal: string } {
  const dir = tempDir(label);
  const spool = join(dir, "spool");
  writeFileSync(spool, OLD);
  return { dir, spool, fd: openSync(spool, "r+"), journal: join(dir, ".spool.poppin-journal") };
}

describe("which journals are believed", () => {
  test("a ready journal in the earlier format (PMJ1: inode only) is still replayed", () => {
    const s = spoolWithJournalPath("journal-v1");
    writeFileSync(s.journal, `PMJ1 ready   0 ${NEW.length} ${OLD.length} ${fstatSync(s.fd).ino}`.padEnd(63) + "\n" + NEW);
    expect(recoverJournal(s.journal, s.fd)).toBe("replayed");
    closeSync(s.fd);
    expect(readFileSync(s.spool, "latin1")).toBe(NEW);
    expect(existsSync(s.journal)).toBe(false);
  });

  test("a journal naming another device, or cut short, is dropped and the spool left alone", () => {
    const s = spoolWithJournalPath("journal-dev");
    const { ino, dev } = fstatSync(s.fd);
    for (const text of [
      `PMJ2 ready   0 ${NEW.length} ${OLD.length} ${dev + 1} ${ino}`.padEnd(127) + "\n" + NEW,
      `PMJ2 ready   0 ${NEW.length} ${OLD.length} ${dev} ${ino}`.padEnd(127) + "\n" + NEW.slice(0, 10),
    ]) {
      writeFileSync(s.journal, text);
      expect(recoverJournal(s.journal, s.fd)).toBe("dropped");
      expect(readFileSync(s.spool, "latin1")).toBe(OLD);
    }
    closeSync(s.fd);
  });

  test("another user's journal, or a link, is ignored: neither replayed nor removed", () => {
    const s = spoolWithJournalPath("journal-foreign");
    const text = `PMJ1 ready   0 0 ${OLD.length} ${fstatSync(s.fd).ino}`.padEnd(63) + "\n";
    writeFileSync(s.journal, text);
    chownSync(s.journal, 4242, 4242);
    expect(recoverJournal(s.journal, s.fd)).toBe("ignored");
    expect(readFileSync(s.journal, "latin1")).toBe(text);
    const target = join(s.dir, "elsewhere");
    writeFileSync(target, text);
    const link = join(s.dir, ".other.poppin-journal");
    symlinkSync(target, link);
    expect(recoverJournal(link, s.fd)).toBe("ignored");
    closeSync(s.fd);
    expect(readFileSync(s.spool, "latin1")).toBe(OLD);
    expect(existsSync(target)).toBe(true);
  });

  test("a new journal is created exclusively: another user's file at its name is reported, never written through", () => {
    const s = spoolWithJournalPath("journal-squat");
    writeFileSync(s.journal, "theirs");
    chownSync(s.journal, 4242, 4242);
    expect(() => writeJournal(s.journal, { p: 0, n: 1, e: 1, dev: 0, ino: 0 }, (write) => write(Buffer.from("x")))).toThrow("is in the way of the rewrite journal");
    expect(readFileSync(s.journal, "latin1")).toBe("theirs");
    closeSync(s.fd);
  });

  test("a scan cache of another user's, or a link to one, is not believed", () => {
    const s = spoolWithJournalPath("cache-foreign");
    const st = fstatSync(s.fd);
    const cache = join(s.dir, ".spool.poppin-cache");
    const lie = `poppin-mbox-cache 1 ${st.dev} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}\n[]`;
    writeFileSync(cache, lie);
    chownSync(cache, 4242, 4242);
    expect(scanWithCache(s.fd, st, s.spool, cache).messages.length).toBe(2);
    const elsewhere = join(s.dir, "lie");
    writeFileSync(elsewhere, lie);
    const linked = join(s.dir, ".linked.poppin-cache");
    symlinkSync(elsewhere, linked);
    expect(scanWithCache(s.fd, st, s.spool, linked).messages.length).toBe(2);
    // Our own cache of the same spool is believed (the control).
    const own = join(s.dir, ".own.poppin-cache");
    writeFileSync(own, lie);
    expect(scanWithCache(s.fd, st, s.spool, own)).toEqual({ messages: [], from: "cache" });
    closeSync(s.fd);
  });
});

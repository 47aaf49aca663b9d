/**
 * The journal that makes an in-place rewrite of a spool crash-safe (for spools whose
 * directory we may not create files in, such as Debian's /var/mail). Before the spool
 * is touched, the journal holds everything the spool will have from the first changed
 * octet P on (N octets), and E, the length the spool is held at while it is rewritten:
 *   1. write the journal ("writing"), fsync; mark it "ready", fsync;
 *   2. extend the spool to E if shorter, fsync;  3. write the N octets at P, fsync;
 *   4. cut the spool to P+N, fsync;  5. mark the journal "done", remove it.
 * Killed at any moment, the next locker finishes the job: a "writing" journal is
 * dropped (the spool was not touched), a "ready" one is replayed from step 2 (each step
 * can be repeated), a "done" one removed. Mail appended beyond E after a crash (only if
 * a delivery agent broke our lock as stale first) is kept after the replayed part.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, readSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { TempError } from "../base/errors.ts";
import { createExclusive, effectiveUid, openDirectory, openOwnedFile, UntrustedFile } from "../sys/owned_file.ts";

/**
 * Header sizes: PMJ2 (this version) names the spool by device and inode; PMJ1 (earlier
 * versions, inode only) is still replayed so an upgrade never strands an interrupted rewrite.
 */
const HEADER = 128;
const HEADER_V1 = 64;
type State = "writing" | "ready" | "done";
const CHUNK = 1 << 20;
/** Mail appended after a crash that recovery keeps in memory at most. */
const MAX_RESCUED_TAIL = 64 << 20;

export interface JournalHeader {
  state: State;
  p: number;
  n: number;
  e: number;
  /** The spool the journal belongs to; dev is undefined in a PMJ1 journal. */
  dev: number | undefined;
  ino: number;
  /** Where the N octets start in the journal file. */
  dataOffset: number;
}

/** The header of a PMJ2 journal (exactly HEADER octets). */
export function journalHeaderBytes(h: Omit<JournalHeader, "dataOffset">): Buffer {
  const text = `PMJ2 ${h.state.padEnd(7)} ${h.p} ${h.n} ${h.e} ${h.dev ?? 0} ${h.ino}`;
  if (text.length > HEADER - 1) throw new Error("journal header too long");
  return Buffer.from(text.padEnd(HEADER - 1) + "\n", "latin1");
}

/** A number as the writer prints it: no sign, no leading zero, at most 15 digits (offsets) or 20 (dev, inode). */
const OFF = "(0|[1-9][0-9]{0,14})";
const ID = "(0|[1-9][0-9]{0,19})";
const V1 = new RegExp(`^PMJ1 (writing|ready  |done   ) ${OFF} ${OFF} ${OFF} ${ID} *\n$`);
const V2 = new RegExp(`^PMJ2 (writing|ready  |done   ) ${OFF} ${OFF} ${OFF} ${ID} ${ID} *\n$`);

/** Parses the first octets of a journal (up to HEADER of them); undefined when they are no journal header. */
export function parseJournalHeader(bytes: Uint8Array): JournalHeader | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  if (text.startsWith("PMJ1 ")) {
    const m = V1.exec(text.slice(0, HEADER_V1));
    if (!m || text.length < HEADER_V1) return undefined;
    return checked({ state: m[1]!.trim() as State, p: Number(m[2]), n: Number(m[3]), e: Number(m[4]), dev: undefined, ino: Number(m[5]), dataOffset: HEADER_V1 });
  }
  const m = V2.exec(text.slice(0, HEADER));
  if (!m || text.length < HEADER) return undefined;
  return checked({ state: m[1]!.trim() as State, p: Number(m[2]), n: Number(m[3]), e: Number(m[4]), dev: Number(m[5]), ino: Number(m[6]), dataOffset: HEADER });
}

/** A header whose numbers cannot describe a rewrite (P+N beyond safe integers) is no header. */
function checked(h: JournalHeader): JournalHeader | undefined {
  return Number.isSafeInteger(h.p + h.n) && Number.isSafeInteger(h.e) ? h : undefined;
}

export function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function setState(fd: number, h: JournalHeader, state: State): void {
  h.state = state;
  if (h.dataOffset === HEADER) writeAll(fd, journalHeaderBytes(h), 0);
  else writeAll(fd, Buffer.from(`PMJ1 ${state.padEnd(7)} ${h.p} ${h.n} ${h.e} ${h.ino}`.padEnd(HEADER_V1 - 1) + "\n", "latin1"), 0);
  fsyncSync(fd);
}

function fsyncDir(path: string): void {
  const fd = openDirectory(dirname(path));
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Copies `length` octets from (inFd, inPos) to (outFd, outPos) through `buf`. */
export function copyRange(inFd: number, inPos: number, outFd: number, outPos: number, length: number, buf: Buffer): void {
  let done = 0;
  while (done < length) {
    const n = readSync(inFd, buf, 0, Math.min(buf.length, length - done), inPos + done);
    if (n === 0) throw new TempError("spool shrank while it was being rewritten");
    writeAll(outFd, buf.subarray(0, n), outPos + done);
    done += n;
  }
}

/**
 * Step 1: writes the journal at `path` from `produce` (which writes the N octets through
 * the given writer) and marks it ready. Returns its open descriptor and header.
 */
export function writeJournal(path: string, h: Omit<JournalHeader, "state" | "dataOffset">, produce: (write: (bytes: Uint8Array) => void) => void): { fd: number; header: JournalHeader } {
  const fd = createJournalFile(path);
  const full: JournalHeader = { ...h, state: "writing", dataOffset: HEADER };
  try {
    writeAll(fd, journalHeaderBytes(full), 0);
    let pos = HEADER;
    produce((bytes) => {
      writeAll(fd, bytes, pos);
      pos += bytes.length;
    });
    if (pos - HEADER !== h.n) throw new Error(`journal length ${pos - HEADER} is not ${h.n}`);
    fsyncSync(fd);
    fsyncDir(path);
    setState(fd, full, "ready");
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(path); } catch { /* nothing to remove */ }
    throw e;
  }
  return { fd, header: full };
}

/**
 * Creates the journal exclusively: a file already at its name was not made by this rewrite
 * (recovery, which runs first under the same lock, removes ours), so it is never opened
 * or written through; one of ours is removed, another user's is reported.
 */
function createJournalFile(path: string): number {
  try {
    return createExclusive(path, 0o600);
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST") throw e;
  }
  const st = lstatSync(path);
  if (st.uid !== effectiveUid() || st.isDirectory()) throw new UntrustedFile(path, `is in the way of the rewrite journal (owned by uid ${st.uid}): remove it`);
  unlinkSync(path);
  return createExclusive(path, 0o600);
}

/** Steps 2 to 5 on the spool open read-write on `spoolFd`. */
export function replayJournal(path: string, journalFd: number, h: JournalHeader, spoolFd: number): void {
  const buf = Buffer.allocUnsafe(CHUNK);
  const size = fstatSync(spoolFd).size;
  let rescued: Buffer | undefined;
  if (size > h.e) {
    if (size - h.e > MAX_RESCUED_TAIL) throw new TempError(`spool grew by ${size - h.e} octets after an interrupted rewrite: recover it by hand with ${path}`);
    rescued = Buffer.allocUnsafe(size - h.e);
    if (readSync(spoolFd, rescued, 0, rescued.length, h.e) !== rescued.length) throw new TempError("short read of the spool's tail");
  }
  if (size < h.e) {
    ftruncateSync(spoolFd, h.e);
    fsyncSync(spoolFd);
  }
  copyRange(journalFd, h.dataOffset, spoolFd, h.p, h.n, buf);
  if (rescued) writeAll(spoolFd, rescued, h.p + h.n);
  fsyncSync(spoolFd);
  ftruncateSync(spoolFd, h.p + h.n + (rescued?.length ?? 0));
  fsyncSync(spoolFd);
  setState(journalFd, h, "done");
  closeSync(journalFd);
  unlinkSync(path);
  fsyncDir(path);
}

/** Whether journal header `h` describes the spool with stat `spool` (same device and inode) and has all its data. */
function describesSpool(h: JournalHeader, spool: Stats, journal: Stats): boolean {
  if (h.ino !== spool.ino) return false;
  if (h.dev !== undefined && h.dev !== spool.dev) return false;
  return journal.size >= h.dataOffset + h.n;
}

/** Who may have written a journal or cache for the spool with stat `spool`: its owner, and us (we can write the spool anyway). */
export function trustedOwners(spool: Stats): number[] {
  return [...new Set([spool.uid, effectiveUid()])];
}

/**
 * Finishes or drops an interrupted rewrite found at `path` (called with the spool locked).
 * Only a journal that is a regular file of the spool's owner (or ours), not a link, and
 * names this spool's device and inode is acted on: another user's file at that name
 * ("ignored") is neither read nor removed. Returns what it did; "none" when there is none.
 */
export function recoverJournal(path: string, spoolFd: number): "none" | "dropped" | "replayed" | "removed" | "ignored" {
  const spool = fstatSync(spoolFd);
  let opened;
  try {
    opened = openOwnedFile(path, "readwrite", trustedOwners(spool));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") return "none";
    if (e instanceof UntrustedFile) return "ignored";
    // Not ours to open (EACCES on another user's read-only file): not ours to trust either.
    if (code === "EACCES" || code === "EPERM") {
      let owner: number | undefined;
      try {
        owner = lstatSync(path).uid;
      } catch {
        return "none"; // removed meanwhile
      }
      if (!trustedOwners(spool).includes(owner)) return "ignored";
    }
    throw e;
  }
  const { fd, stat } = opened;
  const buf = Buffer.alloc(HEADER);
  const n = readSync(fd, buf, 0, HEADER, 0);
  const h = parseJournalHeader(buf.subarray(0, n));
  if (h === undefined || h.state === "writing" || h.state === "done" || !describesSpool(h, spool, stat)) {
    closeSync(fd);
    unlinkSync(path);
    return h?.state === "done" ? "removed" : "dropped";
  }
  replayJournal(path, fd, h, spoolFd);
  return "replayed";
}

/** Whether a trusted journal for the spool with stat `spool` is at `path` (a rewrite under way or interrupted). */
export function journalPresent(path: string, spool: Stats): boolean {
  try {
    const st = lstatSync(path);
    return st.isFile() && trustedOwners(spool).includes(st.uid);
  } catch {
    return false;
  }
}

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
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { TempError } from "../cli/errors.ts";

const HEADER = 64;
const MAGIC = "PMJ1";
type State = "writing" | "ready" | "done";
const CHUNK = 1 << 20;
/** Mail appended after a crash that recovery keeps in memory at most. */
const MAX_RESCUED_TAIL = 64 << 20;

export interface JournalHeader { state: State; p: number; n: number; e: number; ino: number }

function header(h: JournalHeader): Buffer {
  const text = `${MAGIC} ${h.state.padEnd(7)} ${h.p} ${h.n} ${h.e} ${h.ino}`;
  return Buffer.from(text.padEnd(HEADER - 1) + "\n", "latin1");
}

function parseHeader(buf: Buffer): JournalHeader | undefined {
  const m = /^PMJ1 (writing|ready  |done   ) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) *\n$/.exec(buf.toString("latin1"));
  if (!m) return undefined;
  return { state: m[1]!.trim() as State, p: Number(m[2]), n: Number(m[3]), e: Number(m[4]), ino: Number(m[5]) };
}

export function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function setState(fd: number, h: JournalHeader, state: State): void {
  h.state = state;
  writeAll(fd, header(h), 0);
  fsyncSync(fd);
}

function fsyncDir(path: string): void {
  const fd = openSync(dirname(path), "r");
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
export function writeJournal(path: string, h: Omit<JournalHeader, "state">, produce: (write: (bytes: Uint8Array) => void) => void): { fd: number; header: JournalHeader } {
  const fd = openSync(path, "w+", 0o600);
  const full: JournalHeader = { ...h, state: "writing" };
  try {
    writeAll(fd, header(full), 0);
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
  copyRange(journalFd, HEADER, spoolFd, h.p, h.n, buf);
  if (rescued) writeAll(spoolFd, rescued, h.p + h.n);
  fsyncSync(spoolFd);
  ftruncateSync(spoolFd, h.p + h.n + (rescued?.length ?? 0));
  fsyncSync(spoolFd);
  setState(journalFd, h, "done");
  closeSync(journalFd);
  unlinkSync(path);
  fsyncDir(path);
}

/**
 * Finishes or drops an interrupted rewrite found at `path` (called with the spool locked).
 * Returns what it did, for the log; "none" when there is no journal.
 */
export function recoverJournal(path: string, spoolFd: number): "none" | "dropped" | "replayed" | "removed" {
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return "none";
    throw e;
  }
  const buf = Buffer.alloc(HEADER);
  const n = readSync(fd, buf, 0, HEADER, 0);
  const h = n === HEADER ? parseHeader(buf) : undefined;
  if (h === undefined || h.state === "writing" || h.state === "done" || h.ino !== fstatSync(spoolFd).ino) {
    closeSync(fd);
    unlinkSync(path);
    return h?.state === "done" ? "removed" : "dropped";
  }
  replayJournal(path, fd, h, spoolFd);
  return "replayed";
}

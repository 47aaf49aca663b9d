/**
 * Delivering one message into a Maildir by djb's protocol (maildir(5)):
 * create tmp/UNIQUE exclusively, write everything, fsync, link it to
 * new/UNIQUE,S=<size>,W=<crlf size>, unlink tmp/UNIQUE, fsync new/.
 * A failure at any step removes what was made, so new/ never holds a partial message.
 */
import { closeSync, fsyncSync, linkSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { nodeOs } from "../sys/builtins.ts";
import { join } from "../base/posix_path.ts";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { checkRealDirectory, openDirectory, UntrustedFile } from "../sys/owned_file.ts";
import { CrlfCounter } from "./crlf.ts";
import { type NameClock, clockNow, uniqueName, withSizes } from "./name.ts";

/** What a message can come from: a file descriptor (streamed), bytes, or chunks. */
export type MessageSource = number | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface DeliverOptions {
  /** Clock for the unique name (default: wall clock with microseconds). */
  now?: () => NameClock;
  pid?: number;
  /** Host part of the name before escaping (default os.hostname()). */
  host?: string;
  /** Add `,S=` and `,W=` to the name in new/ (default true). */
  sizesInName?: boolean;
}

/** Attempts at a fresh unique name before giving up (each waits for the clock to move). */
const NAME_ATTEMPTS = 50;
const READ_CHUNK = 64 * 1024;

function sysFailure(what: string, err: unknown): TempError | PermError {
  const code = (err as { code?: string } | null)?.code;
  const message = `${what}: ${describeSysError(err)}`;
  return code === "ENOENT" || code === "ENOTDIR" ? new PermError(message) : new TempError(message);
}

/** Checks that `dir` has tmp/ and new/ (a permanent failure otherwise: retrying will not help). */
function checkMaildir(dir: string): void {
  for (const sub of ["tmp", "new"]) {
    let isDir = false;
    try {
      isDir = statSync(join(dir, sub)).isDirectory();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        let exists = true;
        try { statSync(dir); } catch { exists = false; }
        throw new PermError(exists ? `${dir} is not a Maildir: no ${sub}/ in it` : `no such Maildir: ${dir}`);
      }
      throw new TempError(`unable to stat ${join(dir, sub)}: ${describeSysError(err)}`);
    }
    if (!isDir) throw new PermError(`${dir} is not a Maildir: ${sub} is not a directory`);
  }
  // Root delivers only into root's own Maildir, through no link: a user's Maildir is
  // delivered to as the user (the deliver applet and qmqpd switch first).
  if ((process.geteuid?.() ?? 1) === 0) {
    try {
      for (const path of [dir, join(dir, "tmp"), join(dir, "new")]) checkRealDirectory(path, 0);
    } catch (e) {
      if (e instanceof UntrustedFile) throw new TempError(`refusing to deliver as root: ${e.message}`);
      throw e;
    }
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function nextUnique(opts: DeliverOptions): string {
  return uniqueName((opts.now ?? clockNow)(), opts.pid ?? process.pid, opts.host ?? nodeOs().hostname());
}

/** Opens tmp/UNIQUE with O_EXCL, waiting for a new microsecond on a clash. */
function createTmp(dir: string, opts: DeliverOptions): { unique: string; path: string; fd: number } {
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const unique = nextUnique(opts);
    const path = join(dir, "tmp", unique);
    try {
      return { unique, path, fd: openSync(path, "wx", 0o600) };
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw sysFailure(`unable to create ${path}`, err);
      sleepMs(1);
    }
  }
  throw new TempError(`unable to find a unique name in ${join(dir, "tmp")}: every name tried exists`);
}

/** A failure writing the temporary file (as opposed to reading the message). */
class WriteFailure extends Error {
  constructor(readonly cause: unknown) {
    super("write failed");
  }
}

function writeChunk(fd: number, chunk: Uint8Array, counter: CrlfCounter): void {
  let off = 0;
  try {
    while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
  } catch (err) {
    throw new WriteFailure(err);
  }
  counter.update(chunk);
}

/** Reads fd to its end, writing each chunk as it comes (never the whole message in memory). */
function copyFromFd(source: number, fd: number, counter: CrlfCounter): void {
  const buf = new Uint8Array(READ_CHUNK);
  for (;;) {
    let got: number;
    try {
      got = readSync(source, buf, 0, buf.length, null);
    } catch (err) {
      // A non-blocking pipe with nothing yet: wait a little rather than fail.
      if ((err as { code?: string }).code === "EAGAIN") { sleepMs(2); continue; }
      throw err;
    }
    if (got === 0) return;
    writeChunk(fd, buf.subarray(0, got), counter);
  }
}

async function copyFrom(source: MessageSource, fd: number, counter: CrlfCounter): Promise<void> {
  if (typeof source === "number") return copyFromFd(source, fd, counter);
  if (source instanceof Uint8Array) return writeChunk(fd, source, counter);
  if (Symbol.asyncIterator in source) {
    for await (const chunk of source as AsyncIterable<Uint8Array>) writeChunk(fd, chunk, counter);
    return;
  }
  for (const chunk of source as Iterable<Uint8Array>) writeChunk(fd, chunk, counter);
}

function unlinkQuietly(path: string): void {
  try { unlinkSync(path); } catch { /* already gone */ }
}

/** Links tmp into new/ under `name`; falls back to rename where the file system has no hard links. */
function publish(tmpPath: string, newPath: string): "linked" | "renamed" {
  try {
    linkSync(tmpPath, newPath);
    return "linked";
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== "EPERM" && code !== "ENOSYS" && code !== "EOPNOTSUPP" && code !== "EXDEV") throw err;
  }
  // No hard links here: rename cannot refuse an existing name, so check first (names are unique anyway).
  let exists = true;
  try { statSync(newPath); } catch { exists = false; }
  if (exists) throw Object.assign(new Error("file exists"), { code: "EEXIST" });
  renameSync(tmpPath, newPath);
  return "renamed";
}

/**
 * Delivers one message into Maildir `dir` and returns its file name in new/.
 * Throws PermError when `dir` is no Maildir, TempError for everything that may work
 * later (disk full, I/O error, unreadable input); then nothing is left in tmp/ or new/.
 */
export async function maildirDeliver(dir: string, source: MessageSource, opts: DeliverOptions = {}): Promise<string> {
  checkMaildir(dir);
  const { unique, path: tmpPath, fd } = createTmp(dir, opts);
  const counter = new CrlfCounter();
  let newPath: string | undefined;
  try {
    try {
      try {
        await copyFrom(source, fd, counter);
      } catch (err) {
        if (err instanceof WriteFailure) throw err;
        throw new TempError(`unable to read the message: ${describeSysError(err)}`);
      }
      try {
        fsyncSync(fd);
      } catch (err) {
        throw new WriteFailure(err);
      }
    } catch (err) {
      if (err instanceof WriteFailure) throw new TempError(`unable to write ${tmpPath}: ${describeSysError(err.cause)}`);
      throw err;
    } finally {
      closeSync(fd);
    }
    const named = (u: string) => (opts.sizesInName ?? true ? withSizes(u, counter.fileSize, counter.crlfSize) : u);
    let name = named(unique);
    for (let attempt = 0; ; attempt++) {
      const candidate = join(dir, "new", name);
      try {
        const how = publish(tmpPath, candidate);
        newPath = candidate;
        if (how === "linked") unlinkSync(tmpPath);
        break;
      } catch (err) {
        // Another writer made this very name in new/ (a clock stepped back?): take a fresh one.
        if ((err as { code?: string }).code === "EEXIST" && attempt < NAME_ATTEMPTS) {
          sleepMs(1);
          name = named(nextUnique(opts));
          continue;
        }
        throw sysFailure(`unable to link ${tmpPath} to ${candidate}`, err);
      }
    }
    const dfd = openDirectory(join(dir, "new"));
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    return name;
  } catch (err) {
    unlinkQuietly(tmpPath);
    if (newPath !== undefined) unlinkQuietly(newPath);
    if (err instanceof TempError || err instanceof PermError) throw err;
    throw new TempError(`unable to deliver to ${dir}: ${describeSysError(err)}`);
  }
}

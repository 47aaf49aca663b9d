/**
 * One log directory as daemontools 0.76 multilog keeps it: `current` (mode 644 while
 * written, 744 once complete), `lock` held with flock, `state`, rotated files
 * `@<tai64n>.s` (or `.u` for what an unclean stop left), the oldest removed so that
 * fewer than `num` remain, and an optional processor. Every failure after startup
 * pauses and retries (nothing is dropped); startup failures throw TempError.
 */
import {
  closeSync, fchmodSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync,
  renameSync, unlinkSync, writeSync, constants as fsc, type Stats,
} from "node:fs";
import { TempError } from "../base/errors.ts";
import { lockExclusiveNonBlocking } from "../sys/locks.ts";
import { LABEL_LENGTH, formatLabel } from "../tai64/label.ts";
import { djbErrorText } from "./djb_errors.ts";
import { pause, type LogHooks } from "./hooks.ts";
import { APPEND, READ, TRUNC, openLogFile } from "./log_file.ts";
import { runProcessor } from "./processor.ts";
import type { DirSpec } from "./script.ts";

/** The file itself (lstat): a link at `current` is not a clean stop's complete file. */
function statOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return null;
    throw err;
  }
}

function ignoreErrors(action: () => void): void {
  try { action(); } catch { /* as multilog: unlink of what may not exist */ }
}

export class Cyclog {
  readonly dir: string;
  readonly size: number;
  readonly num: number;
  readonly processor: string | null;
  /** Bytes in current, as multilog counts them (what was written, not what is on disk yet). */
  bytes = 0;
  private fdCurrent = -1;
  private fdDir = -1;
  private fdLock = -1;
  /** Last rotated name, so two rotations in one clock tick still get distinct, ordered names. */
  private lastLabel = "";

  constructor(spec: DirSpec, private readonly hooks: LogHooks) {
    this.dir = spec.path;
    this.size = spec.size;
    this.num = spec.num;
    this.processor = spec.processor;
  }

  /** A file's name as messages give it. */
  private path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /**
   * The name every operation uses: through the directory opened at the start
   * (/proc/self/fd/N), so the directory renamed and replaced by a link while multilog runs
   * (by whoever owns the directory above it) never moves root's writes elsewhere.
   */
  private at(name: string): string {
    return this.fdDir < 0 ? this.path(name) : `/proc/self/fd/${this.fdDir}${name === "" ? "" : `/${name}`}`;
  }

  private retry<T>(message: string, action: () => T): T {
    for (;;) {
      try {
        return action();
      } catch (err) {
        pause(this.hooks, message, djbErrorText(err));
      }
    }
  }

  private fatal(message: string, err: unknown): never {
    throw new TempError(`${message}: ${djbErrorText(err)}`);
  }

  /** multilog's restart(): open and lock the directory, recover from an unclean stop. */
  open(): void {
    try { mkdirSync(this.dir, 0o700); } catch { /* exists, or the open below says why */ }
    try {
      // Root follows a link to its log directory only when root made it (an admin's link to
      // another disk), never one another account put there.
      const link = lstatSync(this.dir);
      if (link.isSymbolicLink() && (process.geteuid?.() ?? 0) === 0 && link.uid !== 0) throw new Error(`is a symbolic link of uid ${link.uid}`);
      this.fdDir = openSync(this.dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (err) {
      this.fatal(`unable to open directory ${this.dir}`, err);
    }
    try {
      this.fdLock = openLogFile(this.at("lock"), APPEND, 0o600);
      lockExclusiveNonBlocking(this.fdLock);
    } catch (err) {
      this.fatal(`unable to lock directory ${this.dir}`, err);
    }
    let current: Stats | null;
    try { current = statOrNull(this.at("current")); } catch (err) { this.fatal(`unable to stat ${this.path("current")}`, err); }
    // A directory can be neither set aside nor removed: multilog stops here with its words (and
    // exit 111) where setting it aside would pause and retry for ever.
    if (current !== null && current.isDirectory()) {
      this.fatal(`unable to append to ${this.path("current")}`, Object.assign(new Error("is a directory"), { code: "EISDIR" }));
    }
    // Only a regular file with one link is a cleanly stopped current; anything else (a symbolic
    // link, or a hard link to a file elsewhere, put there) is set aside as an unclean one (a
    // name with more links is only removed, never appended to), and a new current is made.
    if (current !== null && current.isFile() && current.nlink === 1 && (current.mode & 0o100) !== 0) {
      // Clean stop: carry on appending to current.
      try { this.fdCurrent = openLogFile(this.at("current"), APPEND, 0o600); } catch (err) { this.fatal(`unable to append to ${this.path("current")}`, err); }
      try { fchmodSync(this.fdCurrent, 0o644); } catch (err) { this.fatal(`unable to set mode of ${this.path("current")}`, err); }
      this.bytes = current.size;
      return;
    }
    ignoreErrors(() => unlinkSync(this.at("state")));
    ignoreErrors(() => unlinkSync(this.at("newstate")));
    let processed: Stats | null;
    try { processed = statOrNull(this.at("processed")); } catch (err) { this.fatal(`unable to stat ${this.path("processed")}`, err); }
    if (processed !== null && processed.isFile() && (processed.mode & 0o100) !== 0) {
      ignoreErrors(() => unlinkSync(this.at("previous")));
      this.finish("processed", "s");
    } else {
      ignoreErrors(() => unlinkSync(this.at("processed")));
      this.finish("previous", "u");
    }
    this.finish("current", "u");
    try { closeSync(openLogFile(this.at("state"), TRUNC, 0o644)); } catch (err) { this.fatal(`unable to write to ${this.path("state")}`, err); }
    try { this.fdCurrent = openLogFile(this.at("current"), APPEND, 0o600); } catch (err) { this.fatal(`unable to write to ${this.path("current")}`, err); }
    try { fchmodSync(this.fdCurrent, 0o644); } catch (err) { this.fatal(`unable to set mode of ${this.path("current")}`, err); }
    this.bytes = 0;
  }

  /** Appends bytes to current; a write error (disk full) pauses and retries, dropping nothing. */
  write(data: Uint8Array, start: number, end: number): void {
    while (start < end) {
      let written = 0;
      try {
        written = writeSync(this.fdCurrent, data, start, end - start);
      } catch (err) {
        pause(this.hooks, `unable to write to ${this.path("current")}`, djbErrorText(err));
        continue;
      }
      start += written;
    }
  }

  private nextLabel(): string {
    const out = new Uint8Array(LABEL_LENGTH);
    formatLabel(out, 0, this.hooks.clock());
    let label = String.fromCharCode(...out);
    if (label <= this.lastLabel) {
      // Same tick (or the clock went back): one nanosecond after the last name.
      const last = BigInt(`0x${this.lastLabel.slice(1)}`) + 1n;
      label = `@${last.toString(16).padStart(24, "0")}`;
    }
    this.lastLabel = label;
    return label;
  }

  /** multilog's finish(): give `file` its rotated name, then remove old files beyond `num`. */
  private finish(file: string, code: "s" | "u"): void {
    let st: Stats | null;
    for (;;) {
      try { st = statOrNull(this.at(file)); break; } catch (err) {
        pause(this.hooks, `unable to stat ${this.path(file)}`, djbErrorText(err));
      }
    }
    if (st === null) return;
    if (st.nlink === 1) {
      for (;;) {
        const name = `${this.nextLabel()}.${code}`;
        try {
          linkSync(this.at(file), this.at(name));
          break;
        } catch (err) {
          if ((err as { code?: string }).code === "EEXIST") continue;
          pause(this.hooks, `unable to link to ${this.path(name)}`, djbErrorText(err));
        }
      }
    }
    this.retry(`unable to remove ${this.path(file)}`, () => unlinkSync(this.at(file)));
    ignoreErrors(() => fsyncSync(this.fdDir));
    for (;;) {
      let names: string[];
      try {
        names = readdirSync(this.at(""));
      } catch (err) {
        pause(this.hooks, `unable to read ${this.dir}`, djbErrorText(err));
        continue;
      }
      const old = names.filter((n) => n.startsWith("@") && n.length >= 25);
      if (old.length < this.num) return;
      let oldest = "@z";
      for (const n of old) if (n < oldest) oldest = n.slice(0, 25);
      const victim = old.find((n) => n.startsWith(oldest));
      if (victim !== undefined) ignoreErrors(() => unlinkSync(this.at(victim)));
    }
  }

  /** multilog's fullcurrent(): rotate current to previous, run the processor, finish. */
  rotate(): void {
    this.retry(`unable to write ${this.path("current")} to disk`, () => fsyncSync(this.fdCurrent));
    closeSync(this.fdCurrent);
    this.retry(`unable to rename current to previous in directory ${this.dir}`, () =>
      renameSync(this.at("current"), this.at("previous")));
    this.fdCurrent = this.retry(`unable to create ${this.path("current")}`, () => openLogFile(this.at("current"), APPEND, 0o600));
    this.bytes = 0;
    this.retry(`unable to set mode of ${this.path("current")}`, () => fchmodSync(this.fdCurrent, 0o644));
    this.retry(`unable to set mode of ${this.path("previous")}`, () => {
      // Through a descriptor of the file itself: the name may be a link by now.
      const fd = openLogFile(this.at("previous"), READ, 0);
      try { fchmodSync(fd, 0o744); } finally { closeSync(fd); }
    });
    ignoreErrors(() => fsyncSync(this.fdDir));
    if (this.processor === null) {
      this.finish("previous", "s");
      return;
    }
    runProcessor(this.at(""), this.dir, this.processor, this.hooks);
    const processed = this.retry(`unable to create ${this.path("processed")}`, () => openLogFile(this.at("processed"), APPEND, 0o600));
    this.retry(`unable to write ${this.path("processed")} to disk`, () => fsyncSync(processed));
    this.retry(`unable to set mode of ${this.path("processed")}`, () => fchmodSync(processed, 0o744));
    closeSync(processed);
    const newstate = this.retry(`unable to create ${this.path("newstate")}`, () => openLogFile(this.at("newstate"), APPEND, 0o600));
    this.retry(`unable to write ${this.path("newstate")} to disk`, () => fsyncSync(newstate));
    closeSync(newstate);
    this.retry(`unable to remove ${this.path("previous")}`, () => unlinkSync(this.at("previous")));
    this.retry(`unable to rename newstate to state in directory ${this.dir}`, () =>
      renameSync(this.at("newstate"), this.at("state")));
    this.finish("processed", "s");
  }

  /** multilog's c_quit() for this directory: current to disk, marked complete (744). */
  close(): void {
    this.retry(`unable to write ${this.path("current")} to disk`, () => fsyncSync(this.fdCurrent));
    this.retry(`unable to set mode of ${this.path("current")}`, () => fchmodSync(this.fdCurrent, 0o744));
  }
}

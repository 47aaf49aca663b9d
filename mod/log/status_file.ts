/**
 * A multilog `=file`: after each selected line the file holds that line (its first
 * 1000 bytes) padded with newlines to 1001 bytes, written in place at offset 0.
 */
import { closeSync, writeSync } from "node:fs";
import { APPEND, WRITE, openLogFile } from "./log_file.ts";
import { TempError } from "../base/errors.ts";
import { djbErrorText } from "./djb_errors.ts";
import { pause, type LogHooks } from "./hooks.ts";

/** multilog's line[1001]: up to 1000 bytes of line, always at least one newline after. */
export const STATUS_SIZE = 1001;
const NEWLINE = 0x0a;

export class StatusFile {
  private readonly content = new Uint8Array(STATUS_SIZE).fill(NEWLINE);
  private dirty = false;
  private fd = -1;

  constructor(readonly path: string, private readonly hooks: LogHooks) {}

  /** multilog's f_init: create the file if need be (mode 600), open it for writing. */
  open(): void {
    try {
      closeSync(openLogFile(this.path, APPEND, 0o600));
    } catch (err) {
      throw new TempError(`unable to create ${this.path}: ${djbErrorText(err)}`);
    }
    try {
      // Never through a link (root overwrote the first 1001 bytes of the link's target).
      this.fd = openLogFile(this.path, WRITE, 0);
    } catch (err) {
      throw new TempError(`unable to write ${this.path}: ${djbErrorText(err)}`);
    }
  }

  /** Records a selected line; written by the next flush (only the last one matters). */
  set(line: Uint8Array, length: number): void {
    this.content.set(line.subarray(0, length));
    this.content.fill(NEWLINE, length);
    this.dirty = true;
  }

  flush(): void {
    if (!this.dirty) return;
    for (;;) {
      try {
        if (writeSync(this.fd, this.content, 0, STATUS_SIZE, 0) === STATUS_SIZE) break;
        pause(this.hooks, `unable to write ${this.path}`, "short write");
      } catch (err) {
        pause(this.hooks, `unable to write ${this.path}`, djbErrorText(err));
      }
    }
    this.dirty = false;
  }
}

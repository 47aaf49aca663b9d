import { writeSync } from "node:fs";

const encoder = new TextEncoder();

/**
 * Writes all of `data` to a file descriptor synchronously, so nothing is lost
 * when the applet exits right after. Retries EAGAIN (a non-blocking pipe that
 * is full) with a short sleep rather than dropping output.
 */
export function writeAll(fd: number, data: Uint8Array | string): void {
  let bytes = typeof data === "string" ? encoder.encode(data) : data;
  let idle = 0;
  while (bytes.length > 0) {
    let written: number;
    try {
      written = writeSync(fd, bytes);
    } catch (err) {
      if ((err as { code?: string }).code === "EAGAIN" && idle < 10_000) {
        idle++;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      throw err;
    }
    bytes = bytes.subarray(written);
  }
}

export function writeStdout(data: Uint8Array | string): void {
  writeAll(1, data);
}

/**
 * Writes a log or diagnostic line on fd 2. A log that cannot be written (its reader gone: EPIPE;
 * fd 2 closed: EBADF) loses the line and nothing else: as djb's programs, which ignore write
 * errors on their log, the program goes on (a server keeps serving and still stops on SIGTERM).
 */
export function writeStderr(data: Uint8Array | string): void {
  try {
    writeAll(2, data);
  } catch {
    // nowhere left to say it
  }
}

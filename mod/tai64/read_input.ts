/** Blocking chunk reads from an inherited fd that may have been left non-blocking by whoever shares it. */
import { readSync, statSync } from "node:fs";
import { EXIT_OK, EXIT_TEMP } from "../base/errors.ts";
import { writeAll } from "../base/io.ts";
import { closedAtStart } from "../sys/libc.ts";
import { pollReadable } from "../sys/poll.ts";

/** Reads what is available (up to buf.length); 0 at end of input; throws on read errors. */
export function readChunk(fd: number, buf: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") {
        pollReadable(fd, 1000);
        continue;
      }
      if (code === "EINTR") continue;
      throw err;
    }
  }
}

/**
 * daemontools' filter loop (tai64n, tai64nlocal): each chunk of stdin through `convert` to
 * stdout until the end of input (0); a read or write error exits 111 silently, as the
 * originals do. Bun puts /dev/null on a closed fd 0 or 1, where the originals' read or write
 * gets EBADF: `<&-` fails at once, `>&-` once there is something to write.
 */
export function filterStdin(convert: (chunk: Uint8Array) => Uint8Array): number {
  if (closedAtStart(0)) return EXIT_TEMP;
  const outputClosed = closedAtStart(1);
  const buf = new Uint8Array(1 << 16);
  try {
    for (;;) {
      const n = readChunk(0, buf);
      if (n === 0) return EXIT_OK;
      if (outputClosed) return EXIT_TEMP;
      writeAll(1, convert(buf.subarray(0, n)));
    }
  } catch {
    return EXIT_TEMP;
  }
}

/**
 * The originals ignore their arguments and read standard input, so `tai64nlocal current`
 * (for `tai64nlocal < current`) waits on the terminal and looks hung. For each argument that
 * names a file, the warning to print before reading as they do.
 */
export function ignoredFileWarnings(program: string, args: readonly string[]): string[] {
  const warnings: string[] = [];
  for (const arg of args) {
    try {
      if (statSync(arg).isFile()) warnings.push(`ignoring ${arg}: ${program} reads standard input only (${program} < ${arg})`);
    } catch { /* not a file: nothing to say */ }
  }
  return warnings;
}

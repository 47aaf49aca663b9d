/** Blocking chunk reads from an inherited fd that may have been left non-blocking by whoever shares it. */
import { readSync } from "node:fs";
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

import type { Applet } from "../cli/applet.ts";
import { EXIT_OK, EXIT_TEMP } from "../base/errors.ts";
import { writeAll } from "../base/io.ts";
import { wallClock } from "../sys/clock.ts";
import { LineStamper } from "../tai64/stamp.ts";
import { stampFor } from "../tai64/label.ts";
import { readChunk } from "../tai64/read_input.ts";
import { closedAtStart } from "../sys/libc.ts";

/**
 * daemontools' tai64n: each line of stdin to stdout with the TAI64N label of the moment
 * it was read and a space in front. Arguments are ignored, as the original does; a read
 * or write error exits 111 silently, as the original does.
 */
export const applet: Applet = {
  name: "tai64n",
  summary: "prefix each line of stdin with a TAI64N timestamp",
  usage: "tai64n < input",
  async run(_args, _ctx) {
    const stamper = new LineStamper();
    const buf = new Uint8Array(1 << 16);
    // Bun puts /dev/null on a closed fd 0 or 1; daemontools' read or write gets EBADF and exits
    // 111, so `tai64n <&-` fails and `tai64n >&-` fails once there is a line to write.
    if (closedAtStart(0)) return EXIT_TEMP;
    const outputClosed = closedAtStart(1);
    try {
      for (;;) {
        const n = readChunk(0, buf);
        if (n === 0) return EXIT_OK;
        if (outputClosed) return EXIT_TEMP;
        writeAll(1, stamper.feed(buf.subarray(0, n), stampFor(wallClock())));
      }
    } catch {
      return EXIT_TEMP;
    }
  },
};

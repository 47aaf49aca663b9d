import type { Applet } from "../cli/applet.ts";
import { EXIT_OK, EXIT_TEMP } from "../base/errors.ts";
import { writeAll } from "../base/io.ts";
import { localTime } from "../sys/localtime.ts";
import { LabelLocalizer } from "../tai64/local.ts";
import { readChunk } from "../tai64/read_input.ts";
import { closedAtStart } from "../sys/libc.ts";

/**
 * daemontools' tai64nlocal: TAI64N labels at line starts to local time (TZ honoured),
 * other bytes unchanged. Arguments are ignored; a read or write error exits 111.
 */
export const applet: Applet = {
  name: "tai64nlocal",
  summary: "convert TAI64N labels at line starts to local time",
  usage: "tai64nlocal < input",
  async run(_args, _ctx) {
    const localizer = new LabelLocalizer(localTime);
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
        writeAll(1, localizer.feed(buf.subarray(0, n)));
      }
    } catch {
      return EXIT_TEMP;
    }
  },
};

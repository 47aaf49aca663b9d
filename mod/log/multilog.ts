/**
 * multilog as a whole: open the `=` files and directories in script order, then read
 * stdin until end of input or SIGTERM, and close cleanly (every directory's current
 * fsynced and marked complete). Signals, as daemontools 0.76: TERM stops reading at
 * the end of the line in progress (what is unread stays in the pipe for the next
 * logger); ALRM rotates every non-empty current at once.
 */
import { readSync } from "node:fs";
import { pollReadable } from "../sys/poll.ts";
import { stampFor } from "../tai64/label.ts";
import { Cyclog } from "./cyclog.ts";
import { DirBuffer } from "./dir_buffer.ts";
import type { LogHooks } from "./hooks.ts";
import { LineEngine, READ_SIZE } from "./line_engine.ts";
import { parseScript } from "./script.ts";
import { StatusFile } from "./status_file.ts";

/** Set by the applet's signal listeners, read between reads. */
export interface LogSignals {
  /** SIGTERM: finish the current line and exit. */
  exitSoon: boolean;
  /** SIGALRM: rotate now. */
  rotateNow: boolean;
}

/** Bytes read at once: many of multilog's 1024-byte reads, replayed one by one. */
const CHUNK = 64 * READ_SIZE;
/** Longest wait in poll before looking at the signal flags again. */
const POLL_MS = 1000;

const EMPTY = new Uint8Array(0);

export interface MultilogOptions {
  script: readonly string[];
  /** The fd lines come from (0). */
  input: number;
  hooks: LogHooks;
  signals: LogSignals;
  /** Lets the event loop run (signal listeners); resolved soon after. */
  yieldToEvents: () => Promise<void>;
}

type ReadOutcome = number | "again";

function readInput(fd: number, buf: Uint8Array, length: number): ReadOutcome {
  try {
    return readSync(fd, buf, 0, length, null);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EAGAIN" || code === "EWOULDBLOCK" || code === "EINTR") return "again";
    return 0; // multilog: a read error ends the input like end of file
  }
}

export async function runMultilog(options: MultilogOptions): Promise<void> {
  const { hooks, signals, input } = options;
  const script = parseScript(options.script);
  // After multilog's own behaviour (the word is ignored), a line that says so: the logs it
  // was meant to hold would otherwise vanish without a trace.
  for (const word of script.mistypedDirs) hooks.warn(`ignoring ${word}: not an action; a directory must start with . or / (./${word})`);
  const status = script.statusFiles.map((path) => new StatusFile(path, hooks));
  for (const file of status) file.open();
  const logs = script.dirs.map((spec) => new Cyclog(spec, hooks));
  for (const log of logs) log.open();
  const engine = new LineEngine(script, logs.map((log) => new DirBuffer(log)), status, hooks.stderr);

  const buf = new Uint8Array(CHUNK);
  let endedWithNewline = true;
  for (;;) {
    engine.flush();
    if (signals.rotateNow) {
      signals.rotateNow = false;
      for (const log of logs) if (log.bytes > 0) log.rotate();
    }
    let want = buf.length;
    if (signals.exitSoon) {
      if (endedWithNewline) break;
      want = 1; // finish the line in progress, and not a byte more
    }
    const ready = pollReadable(input, POLL_MS);
    if (ready !== "ready") {
      await options.yieldToEvents();
      continue;
    }
    const n = readInput(input, buf, want);
    if (n === "again") {
      await options.yieldToEvents();
      continue;
    }
    if (n === 0) break;
    endedWithNewline = buf[n - 1] === 0x0a;
    engine.feed(buf.subarray(0, n), script.timestamp ? stampFor(hooks.clock()) : EMPTY);
    await options.yieldToEvents();
  }
  engine.finish();
  engine.flush();
  for (const log of logs) log.close();
}

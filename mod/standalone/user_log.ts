/**
 * Log lines of a user process (pop3d running with a system user's uid under serve
 * --inline as root, or the checkpassword chain popup runs, whose pop3d ends up as the user). The user owns that process and can ptrace it, so it gets no
 * descriptor of the service log: its stderr is a pipe to serve, and serve writes each
 * line it reads as one log line of pop3d's, under pop3d's own prefix and kind (info,
 * warning, fatal, usage), with control and 8-bit octets escaped as %XX. A line in any
 * other shape is logged as pop3d's warning, so a user can never write a line that looks
 * like popup's, tcpserver's or serve's. Bounded: lines are cut at MAX_USER_LOG_LINE
 * octets, and after MAX_USER_LOG_LINES a session's further output is dropped (and said so).
 */

/** Longest line taken from a user process (pop3d's own lines are far shorter). */
export const MAX_USER_LOG_LINE = 1024;
/** Lines taken from one user process (a session writes a handful). */
export const MAX_USER_LOG_LINES = 100;

const LF = 0x0a;
const KINDS = /^(info|warning|fatal|usage): /;

/** Printable ASCII and space stay; control and 8-bit octets become %XX. */
function escapeText(bytes: Uint8Array): string {
  let out = "";
  for (const c of bytes) out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

/**
 * The log line serve writes for `line` (without its LF) from a user process whose pop3d prefix
 * is `prefix`. Several prefixes (popup's checkpassword chain: pop3d's, then checkpassword's):
 * a line of any of them is kept, any other line is the first one's warning.
 */
export function userLogLine(prefix: string | readonly string[], line: Uint8Array): string {
  const prefixes = typeof prefix === "string" ? [prefix] : prefix;
  const cut = line.length > MAX_USER_LOG_LINE;
  const text = escapeText(cut ? line.subarray(0, MAX_USER_LOG_LINE) : line) + (cut ? "..." : "");
  for (const p of prefixes) {
    const own = `${p}: `;
    if (text.startsWith(own) && KINDS.test(text.slice(own.length))) return `${text}\n`;
  }
  return `${prefixes[0] ?? "pop3d"}: warning: ${text}\n`;
}

/**
 * Reads the user process's stderr (a stream of chunks) until it closes, writing each line
 * through `log`; call the returned stop() once the process exited: whatever is still held
 * open (a child the user left behind) is read for at most `graceMs` more, then let go.
 */
export function forwardUserLog(stream: AsyncIterable<Uint8Array>, prefix: string | readonly string[], log: (line: string) => void, graceMs = 1000): { stop(): Promise<void> } {
  const chunks = stream[Symbol.asyncIterator]();
  const done = pump(chunks, prefix, log);
  return {
    async stop() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(() => {
        chunks.return?.()?.catch(() => {});
        resolve();
      }, graceMs)));
      await Promise.race([done, late]);
      clearTimeout(timer);
    },
  };
}

async function pump(chunks: AsyncIterator<Uint8Array>, prefix: string | readonly string[], log: (line: string) => void): Promise<void> {
  let pending = new Uint8Array(0);
  let lines = 0;
  let dropped = false;
  const emit = (line: Uint8Array) => {
    if (lines < MAX_USER_LOG_LINES) log(userLogLine(prefix, line));
    else if (!dropped) {
      dropped = true;
      log(`${typeof prefix === "string" ? prefix : prefix[0] ?? "pop3d"}: warning: more than ${MAX_USER_LOG_LINES} log lines from one session, the rest dropped\n`);
    }
    lines++;
  };
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      const chunk = next.value;
      let bytes = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (let lf = bytes.indexOf(LF); lf >= 0; lf = bytes.indexOf(LF)) {
        emit(bytes.subarray(0, lf));
        bytes = bytes.subarray(lf + 1);
      }
      // A line longer than the bound is cut now: nothing unbounded is held.
      if (bytes.length > MAX_USER_LOG_LINE) {
        emit(bytes);
        bytes = new Uint8Array(0);
      }
      pending = new Uint8Array(bytes);
    }
  } catch {
    // the pipe broke: what came is logged
  }
  if (pending.length > 0) emit(pending);
}

/**
 * The multilog script (daemontools 0.76), parsed once: the actions each line goes
 * through in order, and the settings each directory takes from the `s`, `n` and `!`
 * actions before it. Unknown actions are ignored, as multilog ignores them; `t` counts
 * only as the first action.
 */
export const DEFAULT_SIZE = 99999;
export const MIN_SIZE = 4096;
export const MAX_SIZE = 16777215;
export const DEFAULT_NUM = 10;
export const MIN_NUM = 2;

export type Action =
  | { kind: "select"; pattern: Uint8Array }
  | { kind: "deselect"; pattern: Uint8Array }
  | { kind: "stderr" }
  | { kind: "status"; file: number }
  | { kind: "dir"; dir: number };

export interface DirSpec {
  /** As written in the script; messages name it this way. */
  path: string;
  /** Maximum size of current before it is rotated. */
  size: number;
  /** Rotation keeps the number of old files below this. */
  num: number;
  /** Shell command run on each rotated file, or null. An empty `!` runs "" as multilog does. */
  processor: string | null;
}

export interface Script {
  /** `t` first: each line starts with a TAI64N label and a space. */
  timestamp: boolean;
  actions: Action[];
  dirs: DirSpec[];
  /** Paths of the `=file` actions, in script order. */
  statusFiles: string[];
  /**
   * Ignored words that look like a directory written without `./` (`main`, `log/main`):
   * multilog drops every line it would have kept there without a word, so the applet warns.
   */
  mistypedDirs: string[];
}

/** A word multilog ignores that reads as a relative path: a name of two or more characters, or one with a slash. */
const PATH_LIKE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*(?:\/.*)?$/;

/** djb's scan_ulong: leading decimal digits, wrapping modulo 2^64 as unsigned long does; 0 when none. */
export function scanUlong(text: string): bigint {
  let value = 0n;
  for (const ch of text) {
    if (ch < "0" || ch > "9") break;
    value = BigInt.asUintN(64, value * 10n + BigInt(ch.charCodeAt(0) - 48));
  }
  return value;
}

function clamp(value: bigint, low: number, high: number): number {
  if (value < BigInt(low)) return low;
  if (value > BigInt(high)) return high;
  return Number(value);
}

export function parseScript(args: readonly string[]): Script {
  const script: Script = { timestamp: args.length > 0 && args[0].startsWith("t"), actions: [], dirs: [], statusFiles: [], mistypedDirs: [] };
  let size = DEFAULT_SIZE;
  let num = DEFAULT_NUM;
  let processor: string | null = null;
  for (const [index, arg] of args.entries()) {
    const rest = arg.slice(1);
    switch (arg[0]) {
      case "+": script.actions.push({ kind: "select", pattern: Buffer.from(rest, "utf8") }); break;
      case "-": script.actions.push({ kind: "deselect", pattern: Buffer.from(rest, "utf8") }); break;
      case "e": script.actions.push({ kind: "stderr" }); break;
      case "=":
        script.actions.push({ kind: "status", file: script.statusFiles.length });
        script.statusFiles.push(rest);
        break;
      case "s": size = clamp(scanUlong(rest), MIN_SIZE, MAX_SIZE); break;
      case "n": num = clamp(scanUlong(rest), MIN_NUM, Number.MAX_SAFE_INTEGER); break;
      case "!": processor = rest; break;
      case ".":
      case "/":
        script.actions.push({ kind: "dir", dir: script.dirs.length });
        script.dirs.push({ path: arg, size, num, processor });
        break;
      default: // multilog ignores what it does not know (including `t` after the first action)
        if (!(index === 0 && script.timestamp) && (arg.length > 1 || arg.includes("/")) && PATH_LIKE.test(arg)) script.mistypedDirs.push(arg);
        break;
    }
  }
  return script;
}

/**
 * The log lines of a process that runs as a mailbox owner. pop3d exec'd with the user's
 * uid is the user's process: they may trace it and make it write anything on its stderr.
 * So such a process never gets the service log itself: its stderr is a pipe that the
 * privileged parent (popup for the checkpassword chain, serve --inline for its user
 * processes) reads and copies to the log line by line. Each line is escaped (logLine),
 * cut at CHILD_LOG_LINE_MAX octets, and starts with one of the child's own names
 * ("qmail-pop3d: ...", "poppin pop3d: ..."); any other line gets the name of the program
 * running as the user put in front. A user can then write only lines that say they come from their own session,
 * never one of popup's (which the fail2ban filter acts on) or tcpserver's.
 */
import { basename } from "node:path";
import { logLine } from "./log_value.ts";

/** Octets of one relayed line at most (the rest starts a line of its own, with the name in front). */
export const CHILD_LOG_LINE_MAX = 4096;

/** Names that only the parents write with: never accepted at the start of a child's line. */
const PARENT_NAMES: ReadonlySet<string> = new Set(["qmail-popup", "poppin popup", "popup", "tcpserver", "poppin serve", "serve"]);

/** A program's log name from its path and first argument: basename, or "poppin APPLET" for the multi-call binary. */
function programName(path: string, next: string | undefined): string {
  const name = basename(path);
  return name === "poppin" && next !== undefined ? `poppin ${next}` : name;
}

/**
 * The names the checkpassword chain `argv` (checkpassword PROG ...) writes its lines with:
 * checkpassword's own, and that of the program it runs (the first argument after its name
 * and options).
 */
export function chainLogNames(argv: readonly string[]): string[] {
  if (argv.length === 0) return [];
  const names = [programName(argv[0]!, argv[1])];
  let i = basename(argv[0]!) === "poppin" ? 2 : 1;
  while (i < argv.length && argv[i]!.startsWith("-")) i++;
  if (i < argv.length) names.push(programName(argv[i]!, argv[i + 1]));
  return names;
}

/**
 * `line` as it goes to the log: kept when it starts with one of `names` then ": ", else with
 * the last name in front (the program that ends up running as the user: pop3d in the chain).
 */
export function childLogLine(line: string, names: readonly string[]): string {
  const own = names.filter((n) => n !== "" && !PARENT_NAMES.has(n));
  const label = own[own.length - 1] ?? "child";
  const kept = own.some((n) => line.startsWith(`${n}: `));
  return logLine(`${kept ? line : `${label}: ${line}`}\n`);
}

/** Splits a child's stderr into lines and hands each, checked as above, to `write`. */
export class ChildLogRelay {
  readonly #names: readonly string[];
  readonly #write: (line: string) => void;
  #pending: Buffer[] = [];
  #pendingSize = 0;
  readonly #decoder = new TextDecoder("utf-8");

  constructor(names: readonly string[], write: (line: string) => void) {
    this.#names = names;
    this.#write = write;
  }

  feed(chunk: Uint8Array): void {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      const nl = rest.indexOf(0x0a);
      const room = CHILD_LOG_LINE_MAX - this.#pendingSize;
      if (nl >= 0 && nl <= room) {
        this.#pending.push(rest.subarray(0, nl));
        this.#flush();
        rest = rest.subarray(nl + 1);
      } else if (rest.length < room) {
        this.#pending.push(Buffer.from(rest)); // a copy: the caller may reuse its buffer
        this.#pendingSize += rest.length;
        rest = rest.subarray(rest.length);
      } else {
        this.#pending.push(rest.subarray(0, room));
        this.#flush();
        rest = rest.subarray(room);
      }
    }
  }

  /** The child's stderr ended: a last line without a newline is written too. */
  end(): void {
    if (this.#pendingSize > 0) this.#flush();
  }

  #flush(): void {
    const text = this.#decoder.decode(Buffer.concat(this.#pending));
    this.#pending = [];
    this.#pendingSize = 0;
    this.#write(childLogLine(text, this.#names));
  }
}

import type { AppletContext } from "./context.ts";

/** One tool of the binary. `run` returns the exit code; it may also never return (servers, exec). */
export interface Applet {
  /** Canonical short name: `poppin NAME`. */
  readonly name: string;
  /** One line for `poppin --help`. */
  readonly summary: string;
  /** Usage text for `poppin help NAME` and `NAME --help` (first line: the synopsis without the program name). */
  readonly usage: string;
  run(args: string[], ctx: AppletContext): Promise<number>;
}

/** A name under which an applet can be called (symlink or first argument). */
export interface AppletAlias {
  /** The name as called: "tcprules", "qmail-pop3d". */
  readonly name: string;
  /** Canonical applet it selects. */
  readonly applet: string;
  /** Arguments put in front of the user's (e.g. ["check"] for tcprulescheck). */
  readonly leadingArgs: readonly string[];
  /** A djb/daemontools/qmail name: messages use this name as their prefix. */
  readonly classic: boolean;
}

import { writeStderr } from "./io.ts";
import { logLine } from "./log_value.ts";

/**
 * What an applet knows of how it was started. `prefix` is what its messages
 * start with: the classic name when called through a symlink such as
 * `tcprules` (so scripts matching "tcprules: fatal:" keep working), or
 * `poppin rules` when called as `poppin rules ...`.
 */
export interface AppletContext {
  /** Canonical applet name from the table, e.g. "rules". */
  readonly applet: string;
  /** The name it was called by: "tcprules", "rules", "poppin". */
  readonly calledAs: string;
  /** True when called by a classic djb name (tcprules, qmail-pop3d, multilog ...). */
  readonly classic: boolean;
  /** Prefix of every message: "tcprules" or "poppin rules". */
  readonly prefix: string;
  /** Absolute path of the poppin binary, for re-running applets. */
  readonly execPath: string;
  readonly env: NodeJS.ProcessEnv;
}

export function fatal(ctx: AppletContext, message: string): void {
  writeStderr(logLine(`${ctx.prefix}: fatal: ${message}\n`));
}

export function warning(ctx: AppletContext, message: string): void {
  writeStderr(logLine(`${ctx.prefix}: warning: ${message}\n`));
}

export function info(ctx: AppletContext, message: string): void {
  writeStderr(logLine(`${ctx.prefix}: info: ${message}\n`));
}

export function usage(ctx: AppletContext, text: string): void {
  writeStderr(logLine(`${ctx.prefix}: usage: ${text}\n`));
}

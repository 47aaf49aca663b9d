/**
 * djb's exit-code contract, in one place (see ../shared/CONVENTIONS.md):
 * 0 success, 1 checkpassword's "wrong password", 2 checkpassword's misuse (no program,
 * malformed fd-3 data), 100 usage errors and permanent failures, 111 temporary failure.
 * Under a classic name an applet exits with the original's code instead where it differs.
 */
import { errnoText } from "./errno_text.ts";

export const EXIT_OK = 0;
export const EXIT_AUTH_FAILED = 1;
/** Usage errors of `poppin APPLET`, as djb's tools exit on a bad flag. */
export const EXIT_USAGE = 100;
/** checkpassword's contract: no program to run, or fd-3 data that does not follow the interface. */
export const EXIT_MISUSE = 2;
export const EXIT_PERM = 100;
export const EXIT_TEMP = 111;

/** Base of every typed error the library throws; `exitCode` says how an applet ends. */
export class PoppinError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Temporary trouble: disk full, unreadable file, a peer not answering. Exit 111. */
export class TempError extends PoppinError {
  constructor(message: string) {
    super(message, EXIT_TEMP);
  }
}

/** Permanent trouble: bad input, no such mailbox. Exit 100. */
export class PermError extends PoppinError {
  constructor(message: string) {
    super(message, EXIT_PERM);
  }
}

/** Wrong arguments. Exit 100; the applet prints its usage line. */
export class UsageError extends PoppinError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

/** A system error's code (ENOENT ...), or undefined for anything else. */
export function sysErrorCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/**
 * Turns a Node system error into the few words djb's tools print after "unable to ...: "
 * (error_str's text; a code it does not name is shown in lower case, which says more than
 * its "unknown error").
 */
export function describeSysError(err: unknown): string {
  const code = sysErrorCode(err);
  const text = errnoText(code);
  if (text !== undefined) return text;
  const message = (err as { message?: string } | null)?.message;
  return code ? code.toLowerCase() : message ?? String(err);
}

/** Whether a system error is temporary in djb's sense (the same call may work later). */
export function isTemporarySysError(err: unknown): boolean {
  const code = sysErrorCode(err);
  return code !== "ENOENT" && code !== "ENOTDIR" && code !== "EINVAL";
}

/**
 * The end every daemontools helper shares: exec the child, or say
 * "PREFIX: fatal: unable to run CHILD: REASON" with djb's words and exit 111.
 */
import type { AppletContext } from "../cli/context.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_PERM, EXIT_TEMP, EXIT_USAGE } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { djbErrorText } from "../log/djb_errors.ts";
import { getpwnam, restoreDefaultSignals, type PasswdEntry } from "../sys/libc.ts";
import { execWithLimits, SysCallError, type PreparedLimit } from "./exec_ffi.ts";

export function runChild(ctx: AppletContext, argv: readonly string[], env: Record<string, string>, limits: readonly PreparedLimit[] = []): number {
  restoreDefaultSignals();
  try {
    execWithLimits(argv, env, limits);
  } catch (err) {
    if (err instanceof SysCallError && err.call !== "execve") fatal(ctx, `${err.call} failed: ${djbErrorText(err)}`);
    else fatal(ctx, `unable to run ${argv[0]}: ${djbErrorText(err)}`);
  }
  return EXIT_TEMP;
}

/** The usage line: the original's text (and exit code) by the classic name, poppin's 2 otherwise. */
export function usageExit(ctx: AppletContext, synopsis: string, classicCode: number = EXIT_PERM): number {
  const text = ctx.classic ? synopsis : `poppin ${synopsis}`;
  writeStderr(`${ctx.prefix}: usage: ${text}\n`);
  return ctx.classic ? classicCode : EXIT_USAGE;
}

/** `account child...` (setuidgid, envuidgid): the account's passwd entry and the child, or the exit code after the usage line or "unknown account". */
export function accountAndChild(ctx: AppletContext, args: readonly string[], synopsis: string): { pw: PasswdEntry; child: string[] } | number {
  const [account, ...child] = args;
  if (account === undefined || child.length === 0) return usageExit(ctx, synopsis);
  const pw = getpwnam(account);
  if (!pw) {
    fatal(ctx, `unknown account ${account}`);
    return EXIT_TEMP;
  }
  return { pw, child };
}

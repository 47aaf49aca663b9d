/**
 * pop3d's command line (`[--compat=qmail|rfc] maildir` or `[mbox options] mbox:[spool]`),
 * parsed in one place for the applet and for serve's start-up check of the chain.
 */
import { applyMboxOption, defaultMboxSettings, type MboxSettings } from "../mbox/options.ts";
import { isMboxArgument } from "../mbox/spool_path.ts";
import { compatFrom } from "./config.ts";
import type { Compat } from "./maildir_mailbox.ts";

type Env = Readonly<Record<string, string | undefined>>;

export interface Pop3dArgs {
  /** The Maildir (relative to the user's home unless absolute) or the `mbox:` argument. */
  mailbox: string;
  isMbox: boolean;
  compat: Compat;
  /** --compat= as given (undefined: POPPIN_COMPAT or the default). */
  compatOption: string | undefined;
  mbox: MboxSettings;
}

/** The parsed arguments, or why they are unusable (one phrase, for a usage or fatal line). */
export function parsePop3dArgs(args: readonly string[], env: Env): Pop3dArgs | string {
  let compatOption: string | undefined;
  const rest: string[] = [];
  const mbox = defaultMboxSettings();
  let mboxOptions = 0;
  for (const arg of args) {
    if (arg.startsWith("--compat=")) compatOption = arg.slice("--compat=".length);
    else if (arg.startsWith("--") && rest.length === 0) {
      if (applyMboxOption(mbox, arg) !== "ok") return `pop3d option ${arg} is not a usable mbox option`;
      mboxOptions++;
    } else rest.push(arg);
  }
  const compat = compatFrom(compatOption, env);
  if (compat === undefined) return compatOption !== undefined ? `bad --compat=${compatOption}: qmail or rfc` : `bad POPPIN_COMPAT=${env.POPPIN_COMPAT}: qmail or rfc`;
  if (rest.length !== 1 || rest[0] === "") return "exactly one Maildir (or mbox:[spool]) is needed";
  const mailbox = rest[0]!;
  const isMbox = isMboxArgument(mailbox);
  if (mboxOptions > 0 && !isMbox) return `pop3d option ${args.find((a) => a.startsWith("--") && !a.startsWith("--compat="))} is not valid for a Maildir`;
  if (/[\0\n]/.test(mailbox)) return "the Maildir name holds a NUL or newline";
  return { mailbox, isMbox, compat, compatOption, mbox };
}

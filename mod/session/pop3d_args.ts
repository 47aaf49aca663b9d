/**
 * pop3d's command line (`[--compat=qmail|rfc] maildir` or `[mbox options] mbox:[spool]`),
 * parsed in one place for the applet and for serve's start-up check of the chain.
 */
import { ENV } from "../base/env.ts";
import { applyMboxOption, defaultMboxSettings, type MboxSettings } from "../mbox/options.ts";
import { isMboxArgument } from "../mbox/spool_path.ts";
import { compatFrom } from "../pop3/config.ts";
import type { Compat } from "../pop3/maildir_mailbox.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** Dovecot's mail_location variables (%u, %n, %d, %h, %Lu, %{user} ...). */
const DOVECOT_VARIABLE = /%(?:L?[undh]|\{[a-z.]+\})/;

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
  if (compat === undefined) return compatOption !== undefined ? `bad --compat=${compatOption}: qmail or rfc` : `bad ${ENV.compat.name}=${env[ENV.compat.name]}: qmail or rfc`;
  if (rest.length !== 1 || rest[0] === "") return "exactly one Maildir (or mbox:[spool]) is needed";
  const mailbox = rest[0]!;
  const isMbox = isMboxArgument(mailbox);
  if (mboxOptions > 0 && !isMbox) return `pop3d option ${args.find((a) => a.startsWith("--") && !a.startsWith("--compat="))} is not valid for a Maildir`;
  if (/[\0\n]/.test(mailbox)) return "the Maildir name holds a NUL or newline";
  // A Dovecot mail_location carried over (maildir:~/Maildir, /var/vmail/%u/Maildir): nothing
  // expands these, so every login would fail, or every user would share one literal directory.
  if (!isMbox) {
    const variable = DOVECOT_VARIABLE.exec(mailbox)?.[0];
    if (variable !== undefined) return `the Maildir ${mailbox} holds ${variable}, a Dovecot variable nothing expands here: pop3d opens the Maildir in each user's home (write Maildir for ~/Maildir)`;
    if (mailbox.startsWith("~")) return `the Maildir ${mailbox} starts with ~, which no shell expanded: pop3d opens the Maildir in each user's home (write Maildir for ~/Maildir)`;
  }
  return { mailbox, isMbox, compat, compatOption, mbox };
}

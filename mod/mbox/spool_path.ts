/**
 * Where a user's mbox spool is, and how pop3d's mailbox argument names one.
 *
 * Mailbox argument: `mbox:` followed by nothing (the user's spool, found as Qpopper's
 * spool-dir, hash-spool and home-dir-mail say), an absolute path, `~/PATH` (under $HOME)
 * or a relative path (from the current directory, which checkpassword made $HOME).
 * Anything not starting with "mbox:" is a Maildir, as for qmail-pop3d; a Maildir really
 * named "mbox:x" is reached as "./mbox:x".
 */
import { isAbsolute, join } from "../base/posix_path.ts";

export const MBOX_PREFIX = "mbox:";
/** Debian's (and Qpopper's usual) spool directory. */
export const DEFAULT_SPOOL_DIR = "/var/mail";

export interface SpoolLayout {
  spoolDir: string;
  /** Qpopper's hash-spool: 0 none, 1 "a".."z" from the first five characters, 2 "u/s/" from the first two. */
  hashSpool: 0 | 1 | 2;
  /** Qpopper's home-dir-mail: the spool is $HOME/NAME (spool-dir and hash-spool are then unused). */
  homeDirMail?: string;
}

export function isMboxArgument(arg: string): boolean {
  return arg.startsWith(MBOX_PREFIX);
}

/** Qpopper's genpath hash directory for `user` ("" for method 0). */
export function hashDir(user: string, method: 0 | 1 | 2): string {
  if (method === 0 || user === "") return "";
  if (method === 1) {
    let seed = 0;
    for (let i = 0; i < Math.min(5, user.length); i++) seed += user.charCodeAt(i);
    return `${String.fromCharCode((seed % 26) + 97)}/`;
  }
  return `${user[0]}/${user[1] ?? user[0]}/`;
}

/** The spool path an "mbox:..." argument names, or undefined when it needs a user or home that is missing. */
export function spoolPathFor(arg: string, layout: SpoolLayout, env: { user?: string; home?: string; cwd: string }): string | undefined {
  const rest = arg.slice(MBOX_PREFIX.length);
  if (rest === "") {
    if (layout.homeDirMail !== undefined) return env.home ? join(env.home, layout.homeDirMail) : undefined;
    if (!env.user || env.user.includes("/") || env.user.startsWith(".")) return undefined;
    return join(layout.spoolDir, hashDir(env.user, layout.hashSpool), env.user);
  }
  if (rest.startsWith("~/")) return env.home ? join(env.home, rest.slice(2)) : undefined;
  return isAbsolute(rest) ? rest : join(env.cwd, rest);
}

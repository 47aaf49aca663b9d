import { isatty } from "../sys/builtins.ts";
import type { Applet } from "../cli/applet.ts";
import { fatal, info, usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, TempError, describeSysError } from "../base/errors.ts";
import { becomeOwnerOf, checkRootDestination } from "../sys/become_owner.ts";
import { writeStderr } from "../base/io.ts";
import { convertMboxToMaildir } from "../convert/mbox_to_maildir.ts";
import { ProgressThrottle, progressText } from "../convert/progress.ts";
import { defaultTempDir } from "../mbox/mbox_mailbox.ts";
import { applyMboxOption, defaultMboxSettings } from "../mbox/options.ts";
import { SpoolBusy } from "../mbox/spool_lock.ts";
import { uidValidityFileFor } from "../mbox/open_spool_mailbox.ts";
import { importDovecotUidls } from "../convert/dovecot_uidlist.ts";

const SYNOPSIS = "convert mbox [--keep] [--update=auto|rename|inplace] [--temp-dir=DIR] [--lock=dotlock,fcntl,flock] [--lock-timeout=S] [--lock-stale=S] [--uidl-format=FORMAT] SPOOL MAILDIR";
const DOVECOT_SYNOPSIS = "convert dovecot [--uidl-format=FORMAT] [--uidlist=FILE] MAILDIR";

/** convert dovecot: Dovecot's UIDLs of a Maildir into its poppin-uidls. */
function convertDovecot(args: readonly string[], ctx: Parameters<Applet["run"]>[1]): number {
  let format: string | undefined;
  let uidlist: string | undefined;
  const rest: string[] = [];
  for (const arg of args) {
    if (arg.startsWith("--uidl-format=")) format = arg.slice("--uidl-format=".length);
    else if (arg.startsWith("--uidlist=")) uidlist = arg.slice("--uidlist=".length);
    else if (arg.startsWith("--")) rest.push("", "");
    else rest.push(arg);
  }
  if (rest.length !== 1 || rest[0] === "" || format === "" || uidlist === "") {
    usage(ctx, `${ctx.prefix.replace(/ convert$/, "")} ${DOVECOT_SYNOPSIS}`);
    return EXIT_USAGE;
  }
  const maildir = rest[0]!;
  try {
    // Run by root: the map is written as the Maildir's owner, who reads it at each session.
    try {
      if (becomeOwnerOf(maildir, "directory") === undefined) checkRootDestination(maildir);
    } catch (e) {
      if (e instanceof PoppinError) throw e;
      throw new TempError(`unable to open ${maildir}: ${describeSysError(e)}`);
    }
    const r = importDovecotUidls(maildir, { format, uidlist });
    info(ctx, `${maildir}: ${r.messages} messages, ${r.written} UIDLs written to poppin-uidls, ${r.alreadyThere} already there, ${r.notListed} not in dovecot-uidlist (they keep their file name's UIDL)`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof PoppinError) {
      fatal(ctx, e.message);
      return e.exitCode;
    }
    throw e;
  }
}

export const applet: Applet = {
  name: "convert",
  summary: "move an mbox spool into a Maildir, or keep Dovecot's UIDLs of a Maildir, so POP3 clients download nothing twice",
  usage: `${SYNOPSIS}\n       poppin ${DOVECOT_SYNOPSIS}`,
  async run(args, ctx) {
    if (args[0] === "dovecot") return convertDovecot(args.slice(1), ctx);
    const settings = defaultMboxSettings();
    let keep = false;
    const rest: string[] = [];
    let bad = false;
    for (const arg of args) {
      if (arg === "--keep") keep = true;
      else if (arg.startsWith("--")) {
        const name = arg.split("=")[0];
        // pop3d's spool-finding and session options mean nothing to convert: refused, not ignored.
        if (name === "--spool-dir" || name === "--hash-spool" || name === "--home-dir-mail" || name === "--no-status-update" || name === "--no-cache") bad = true;
        else if (applyMboxOption(settings, arg) !== "ok") bad = true;
      } else rest.push(arg);
    }
    if (bad || rest.length !== 3 || rest[0] !== "mbox" || rest[1] === "" || rest[2] === "") {
      usage(ctx, `${ctx.prefix.replace(/ convert$/, "")} ${SYNOPSIS}`);
      return EXIT_USAGE;
    }
    const [, spool, maildir] = rest as [string, string, string];
    const tty = isatty(2);
    const throttle = new ProgressThrottle(tty);
    let drawn = false;
    try {
      // Run by root: the work is done as the spool's owner, whose Maildir it becomes.
      let home = ctx.env.HOME;
      try {
        const owner = becomeOwnerOf(spool, "file");
        if (owner !== undefined) home = owner.home;
        // Still root (root's own spool): the Maildir must be reached through root's directories only.
        else checkRootDestination(maildir);
      } catch (e) {
        if (e instanceof PoppinError) throw e;
        throw new TempError(`unable to open ${spool}: ${describeSysError(e)}`);
      }
      const result = convertMboxToMaildir({
        spool, maildir, keep, update: settings.update,
        uidlFormat: settings.uidlFormat, uidValidityFile: uidValidityFileFor(spool, home),
        tempDir: settings.tempDir ?? defaultTempDir(spool, home),
        lock: { methods: settings.lockMethods, timeoutMs: settings.lockTimeoutMs, staleSeconds: settings.staleSeconds, onDotLockUnavailable: (m) => warning(ctx, m) },
        onProgress: (p) => {
          if (!throttle.due(p)) return;
          if (tty) {
            writeStderr(`\r${progressText(p, true)}\x1b[K`);
            drawn = true;
          } else writeStderr(`${ctx.prefix}: ${progressText(p, false)}\n`);
        },
      });
      if (drawn) writeStderr("\n");
      info(ctx, `${spool} -> ${maildir}: ${result.total} messages, ${result.converted} copied, ${result.alreadyThere} already there, ${result.removedFromSpool} removed from the spool`);
      return EXIT_OK;
    } catch (e) {
      if (drawn) writeStderr("\n");
      if (e instanceof SpoolBusy) {
        fatal(ctx, `unable to lock ${spool}: ${e.message}`);
        return EXIT_TEMP;
      }
      if (e instanceof PoppinError) {
        fatal(ctx, e.message);
        return e.exitCode;
      }
      throw e;
    }
  },
};

import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_OK, EXIT_PERM, EXIT_TEMP, EXIT_USAGE } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { logLine } from "../base/log_value.ts";
import { daemontoolsPlan } from "../conf/daemontools.ts";
import { CLASSIC, parseConfArgs, SYNOPSIS } from "../conf/options.ts";
import { runProblemForOthers } from "../conf/reachable.ts";
import { systemdPlan } from "../conf/systemd.ts";
import { writePlan } from "../conf/write.ts";

const USAGE = `conf [--systemd] [--port N] [--host NAME] [--cert PEM [--key PEM]] [--mbox [--spool-dir DIR]] pop3d CHECKPASSWORD LOGACCT /DIR [IP]
       conf [--systemd] [--port N] [--host NAME] [--cert PEM --key PEM] [--mbox [--spool-dir DIR]] pop3s CHECKPASSWORD LOGACCT /DIR [IP]
       conf [--systemd] [--port N] qmqpd QMQPDACCT LOGACCT /DIR [IP]

Sets up a service directory as qmail-conf's qmail-pop3d-conf and qmail-qmqpd-conf do (symlinks
of those names take their arguments): DIR/run runs serve on IP (default 0: all) port 110, 995 or
628 with the rules in DIR/tcp.cdb (everyone denied until ./add-client IP and make), DIR/log
keeps serve's lines with log t ./main as LOGACCT. Point svscan at it: ln -s DIR /service/.
run reads every setting from a file in DIR/env (qmail-conf's IP, PORT, CONCURRENCY, BACKLOG,
LOCALNAME; for pop3d and pop3s POPUPHOST, MAILDIRNAME, SPOOLDIR, CERTFILE, KEYFILE; POPPIN_*):
edit one and svc -t DIR; an empty file means the default.
  --systemd      write DIR/NAME.socket and DIR/NAME.service (socket activation, journal) instead
  --name NAME    unit name (default: the directory's base name)
  --port N       another port;  --host NAME  popup's greeting host (default: control/me or hostname)
  --cert --key   the PEM files put in DIR/env/CERTFILE and KEYFILE (pop3d: STLS; pop3s: implicit TLS)
  --mbox         serve each user's mbox spool (pop3d mbox:) instead of ~/Maildir
  --spool-dir DIR  where the spools are (default /var/mail; implies --mbox)`;

/** popup's host: qmail's control/me when there is one (qmail-conf reads it), else this host's name. */
function defaultHost(): string {
  const me = "/var/qmail/control/me";
  try {
    if (existsSync(me)) {
      const line = readFileSync(me, "utf8").split("\n")[0].trim();
      if (line) return line;
    }
  } catch { /* fall back */ }
  return hostname();
}

export const applet: Applet = {
  name: "conf",
  summary: "set up a POP3, POP3S or QMQP service directory (qmail-conf) for svscan or systemd",
  usage: USAGE,
  async run(args, ctx) {
    const parsed = parseConfArgs(args, defaultHost());
    if (!parsed.ok && parsed.usage) {
      if (ctx.classic && parsed.kind) {
        const name = CLASSIC[parsed.kind];
        writeStderr(`${name}: usage: ${name} ${SYNOPSIS[parsed.kind]}\n`);
        return EXIT_PERM;
      }
      if (parsed.why) writeStderr(`${ctx.prefix}: ${parsed.why}\n`);
      writeStderr(`${ctx.prefix}: usage: poppin ${USAGE.split("\n")[0]}\n`);
      return ctx.classic ? EXIT_PERM : EXIT_USAGE;
    }
    if (!parsed.ok) {
      fatal(ctx, parsed.message);
      return EXIT_TEMP;
    }
    const req = parsed.request;
    const plan = req.systemd ? systemdPlan(req, ctx.execPath) : daemontoolsPlan(req, ctx.execPath);
    writePlan(plan);
    // qmail-conf takes CHECKPASSWORD on trust; serve would refuse to start (unable to run ...):
    // say so now, while the sysadmin is looking. Bare names are found on $PATH when run.
    if (req.checkpassword?.includes("/") && !existsSync(req.checkpassword)) {
      writeStderr(logLine(`${ctx.prefix}: warning: ${req.checkpassword} does not exist: the service will not start until it does ` +
        "(poppin install makes poppin's, PREFIX/bin/checkpassword)\n"));
    }
    const problem = runProblemForOthers(ctx.execPath);
    if (problem !== undefined) {
      writeStderr(logLine(`${ctx.prefix}: warning: the service runs ${ctx.execPath} as the log account and as each mail user, ` +
        `who cannot run it: ${problem}; install poppin first (poppin install) and make the service with PREFIX/bin/poppin conf\n`));
    }
    return EXIT_OK;
  },
};

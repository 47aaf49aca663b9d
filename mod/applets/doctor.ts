import { isatty } from "../sys/builtins.ts";
import type { Applet } from "../cli/applet.ts";
import { serviceDirectoryProblem } from "../conf/service_command.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_OK, EXIT_USAGE, UsageError } from "../base/errors.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { readSecretLine } from "../doctor/secret.ts";
import { formatJson, formatText } from "../doctor/report.ts";
import { runRoadmap } from "../doctor/roadmap.ts";

/** Some check failed (a checker's answer, as grep's 1 for "not found"). */
const EXIT_CHECK_FAILED = 1;

const USAGE = `doctor [--json] [--service DIR] [--port N] [--rules FILE.cdb] [--userdb FILE] [USER]

Walks a setup from the listener to the log and prints one line per check, ✓ or ✗ with
the fix in one sentence: a listener on the POP3 port and the program holding it; the rules
cdb lets 127.0.0.1 in and is newer than its source; USER exists (system account, or virtual in
POPPIN_USERDB / DIR/env/POPPIN_USERDB); home and Maildir (cur/new/tmp) exist with safe
owners and modes; the password (asked without echo, or a line on stdin) checks out; a live
POP3 session over loopback (USER, PASS, STAT, LIST, TOP); svstat or systemctl sees the
service up, and where its log is. DIR is a directory made by poppin conf (its port,
tcp.cdb and env/ are read from it). Exit 0 only when every check passes, else 1.`;

function parseArgs(args: string[]) {
  const opts: { json: boolean; service?: string; port?: number; rules?: string; userdb?: string; user?: string } = { json: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--json") opts.json = true;
    else if (a === "--service") opts.service = value();
    else if (a === "--port") {
      const v = value();
      if (!/^\d{1,5}$/.test(v)) throw new UsageError(`bad port ${v}`);
      opts.port = Number(v);
    } else if (a === "--rules") opts.rules = value();
    else if (a === "--userdb") opts.userdb = value();
    else if (a.startsWith("-")) throw new UsageError(`poppin ${USAGE.split("\n")[0]}`);
    else if (opts.user === undefined) opts.user = a;
    else throw new UsageError(`poppin ${USAGE.split("\n")[0]}`);
  }
  return opts;
}

export const applet: Applet = {
  name: "doctor",
  summary: "check a POP3 service step by step: ✓/✗ with fixes, --json",
  usage: USAGE,
  async run(args, ctx) {
    const opts = parseArgs(args);
    // A mistyped --service would fail every check that reads DIR: say so once instead.
    const dirProblem = opts.service === undefined ? undefined : serviceDirectoryProblem(opts.service);
    if (dirProblem !== undefined) {
      fatal(ctx, dirProblem);
      return EXIT_USAGE;
    }
    const results = await runRoadmap({
      user: opts.user,
      serviceDir: opts.service,
      port: opts.port,
      rules: opts.rules,
      userdb: opts.userdb,
      env: ctx.env,
      password: () => readSecretLine(isatty(0), (text) => writeStderr(text), `password for ${opts.user}: `),
      run: (cmd) => {
        try {
          const r = Bun.spawnSync(cmd, { stdin: "ignore", timeout: 10_000 });
          return { code: r.exitCode ?? -1, out: r.stdout.toString() };
        } catch {
          return { code: -1, out: "" };
        }
      },
    });
    writeStdout(opts.json ? formatJson(results) : formatText(results));
    return results.every((r) => r.ok) ? EXIT_OK : EXIT_CHECK_FAILED;
  },
};

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError } from "../base/errors.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { serviceCommand, serviceDirectoryProblem } from "../conf/service_command.ts";
import { checkChain } from "../serve/chain_check.ts";
import { configListing } from "../serve/config_listing.ts";
import { parseServeArgs, type ServeOptions } from "../serve/options.ts";
import { selfResolver } from "../serve/chain_spec.ts";
import { isPoppinName } from "../base/self_name.ts";

const USAGE = `config [-n] DIR
       config [-n] [serve|tcpserver] [serve options] HOST PORT popup ... checkpassword ... pop3d ...
       config [-n] popup [OPTIONS] NAME checkpassword ... pop3d ... Maildir

Prints the effective configuration of a service, one "program.setting = value" line each
with where the value came from (default, a config file and line, an environment variable,
the command line), as doveconf -n does for Dovecot. DIR is a service directory made by
poppin conf (its run script or .service unit, with DIR/env as envdir gives it); otherwise
give the same words as the serve or popup command line, in the environment it runs with.
The checks are those serve makes before it listens (config files, certificate and key,
user database, pop3d's arguments). -n: only the values that are not defaults.
Exit 0 when the configuration is usable, 111 with one line per problem when not.`;

/** A popup program word (poppin popup, qmail-popup): the chain itself, not a serve command line. */
function startsWithPopup(args: readonly string[]): boolean {
  const first = args[0]?.split("/").pop() ?? "";
  return first === "qmail-popup" || first === "popup" || (isPoppinName(first) && args[1] === "popup");
}

export const applet: Applet = {
  name: "config",
  summary: "print a service's effective configuration and where each value came from; exit 111 on errors",
  usage: USAGE,
  async run(rawArgs, ctx) {
    let args = [...rawArgs];
    const changedOnly = args[0] === "-n";
    if (changedOnly) args.shift();
    if (args.length === 0) {
      writeStderr(`${ctx.prefix}: usage: poppin ${USAGE.split("\n")[0]}\n`);
      return EXIT_USAGE;
    }
    let env: Readonly<Record<string, string | undefined>> = ctx.env;
    const knobs = new Map<string, string>();
    try {
      const oneWord = args.length === 1 ? args[0]! : undefined;
      const dirProblem = oneWord === undefined ? undefined : serviceDirectoryProblem(oneWord);
      // One word can only be DIR (a command line has HOST PORT PROGRAM): name what is wrong with it.
      if (oneWord !== undefined && dirProblem !== undefined && !oneWord.startsWith("-")) {
        fatal(ctx, dirProblem);
        return EXIT_USAGE;
      }
      if (oneWord !== undefined && dirProblem === undefined) {
        const dir = oneWord;
        // Under supervise the chain sees svscan's small environment plus env/; relative names are in DIR.
        const found = serviceCommand(dir, { PATH: ctx.env.PATH });
        args = found.args;
        env = found.env;
        // Every variable the run script's envdir set (qmail-conf's knobs, CERTFILE, POPPIN_*): named by its file.
        for (const name of Object.keys(found.env)) {
          if (found.env[name] !== undefined && existsSync(join(dir, "env", name))) knobs.set(name, join(dir, "env", name));
        }
        process.chdir(dir);
        writeStdout(`# ${found.source}\n`);
      }
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      fatal(ctx, e.message);
      return EXIT_TEMP;
    }
    if (args[0] === "serve" || args[0]?.split("/").pop() === "tcpserver") args.shift();
    else if (isPoppinName(args[0]?.split("/").pop() ?? "") && args[1] === "serve") args.splice(0, 2);
    let serve: { options: ServeOptions; inline: boolean } | undefined;
    let program: string[];
    if (startsWithPopup(args)) {
      program = args;
    } else {
      // tcpserver's options, --inline and --metrics: one parser (mod/serve/options.ts).
      const parsed = parseServeArgs(args, env);
      if (parsed.kind !== "ok") {
        writeStderr(`${ctx.prefix}: usage: poppin ${USAGE.split("\n")[0]}\n`);
        writeStderr(`${ctx.prefix}: not a serve command line: ${parsed.complaint ?? "HOST PORT PROGRAM missing"}\n`);
        return EXIT_USAGE;
      }
      serve = { options: parsed.options, inline: parsed.options.inline };
      program = parsed.options.program;
    }
    // After serve's -u the chain reads the user database as that account.
    const uid = serve?.options.uid ?? 0;
    const runAs = uid === 0 ? undefined : { name: `uid ${uid}`, uid, gid: serve!.options.gid };
    const check = checkChain(program, env, selfResolver(ctx.execPath, env.PATH), runAs);
    writeStdout(configListing(serve, check, changedOnly, knobs));
    for (const problem of check.problems) fatal(ctx, problem);
    return check.problems.length > 0 ? EXIT_TEMP : EXIT_OK;
  },
};

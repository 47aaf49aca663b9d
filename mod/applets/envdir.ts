import { closeSync, openSync } from "node:fs";
import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_TEMP } from "../base/errors.ts";
import { EnvdirError, readEnvdir } from "../daemontools/envdir.ts";
import { pathexecEnvironment } from "../daemontools/pathexec.ts";
import { runChild, usageExit } from "../daemontools/run_child.ts";
import { djbErrorText } from "../log/djb_errors.ts";

const SYNOPSIS = "envdir dir child";

export const applet: Applet = {
  name: "envdir",
  summary: "run a program with environment variables set from the files of a directory (daemontools)",
  usage: SYNOPSIS,
  async run(args, ctx) {
    const [dir, ...child] = args;
    // envdir's usage is a temporary failure (111), unlike the other helpers.
    if (dir === undefined || child.length === 0) return usageExit(ctx, SYNOPSIS, EXIT_TEMP);
    // envdir keeps a descriptor of "." to come back to; without read access it stops here.
    let start: string;
    try {
      closeSync(openSync(".", "r"));
      start = process.cwd();
    } catch (err) {
      fatal(ctx, `unable to switch to current directory: ${djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    try {
      process.chdir(dir);
    } catch (err) {
      fatal(ctx, `unable to switch to directory ${dir}: ${djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    let changes: Map<string, string | undefined>;
    try {
      changes = readEnvdir(".", dir);
    } catch (err) {
      if (!(err instanceof EnvdirError)) throw err;
      const what = err.what === "directory" ? `unable to read directory ${dir}` : `unable to read ${err.path}`;
      fatal(ctx, `${what}: ${djbErrorText(err.cause)}`);
      return EXIT_TEMP;
    }
    try {
      process.chdir(start);
    } catch (err) {
      fatal(ctx, `unable to switch to starting directory: ${djbErrorText(err)}`);
      return EXIT_TEMP;
    }
    return runChild(ctx, child, pathexecEnvironment(ctx.env, changes));
  },
};

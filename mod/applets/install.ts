import { parseArgs } from "node:util";
import { existsSync, statSync } from "node:fs";
import type { Applet } from "../cli/applet.ts";
import { ALIASES } from "../cli/applet_table.ts";
import { UsageError, TempError, EXIT_OK } from "../cli/errors.ts";
import { installSymlinks } from "../cli/install.ts";
import { writeStdout } from "../cli/io.ts";

export const DEFAULT_PREFIX = "/usr/local/bin";

export const applet: Applet = {
  name: "install",
  summary: "make a symlink per applet name (default in /usr/local/bin)",
  usage: "install [--prefix DIR] [--force]",
  async run(args, ctx) {
    let parsed;
    try {
      parsed = parseArgs({ args, options: { prefix: { type: "string" }, force: { type: "boolean" } }, strict: true });
    } catch (err) {
      throw new UsageError(`poppin install [--prefix DIR] [--force] (${(err as Error).message})`);
    }
    const dir = parsed.values.prefix ?? DEFAULT_PREFIX;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TempError(`unable to install into ${dir}: not a directory`);
    const binary = ctx.execPath;
    if (/(^|\/)bun$/.test(binary)) throw new UsageError("poppin install must be run from the compiled binary (npm run build; dist/poppin install)");
    const names = ALIASES.map((a) => a.name);
    const result = installSymlinks(binary, dir, names, parsed.values.force ?? false);
    for (const name of result.replaced) writeStdout(`replaced ${dir}/${name}\n`);
    writeStdout(`${result.created.length} created, ${result.replaced.length} replaced, ${result.unchanged.length} already in place in ${dir}\n`);
    return EXIT_OK;
  },
};

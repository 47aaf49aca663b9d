/**
 * `poppin install [--prefix PREFIX] [--force]`: copies the running binary to PREFIX/bin/poppin,
 * links the classic names beside it and installs the man pages. The table of names is given by
 * the applet table (makeInstallApplet), so this file does not import it: no import cycle.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { nodeUtil } from "../sys/builtins.ts";
import type { Applet } from "../cli/applet.ts";
import { UsageError, EXIT_OK } from "../base/errors.ts";
import { install, manSourceFor } from "../cli/install.ts";
import { processesRunning, uninstall } from "../cli/uninstall.ts";
import { writeStdout } from "../base/io.ts";

export const DEFAULT_PREFIX = "/usr/local";

const SYNOPSIS = "install [--prefix PREFIX] [--force] [--uninstall]";

export interface InstallNames {
  /** Linked beside the binary: tcpserver, qmail-popup ... */
  classic: readonly string[];
  /** Reached as `poppin NAME` only; links of these that an older install made are removed. */
  generic: readonly string[];
}

export function makeInstallApplet(names: () => InstallNames): Applet {
  return {
    name: "install",
    summary: "install the binary, its classic names and man pages (default under /usr/local)",
    usage: `${SYNOPSIS}\n` +
      "  --prefix PREFIX  install into PREFIX/bin and PREFIX/share/man (default /usr/local; made if missing)\n" +
      "  --force          replace files that are not poppin's (and say so); with --uninstall, remove a binary still running\n" +
      "  --uninstall      remove what install put under PREFIX: the links to poppin, bin/poppin, share/man/man*/poppin*",
    async run(args, ctx) {
      let parsed;
      try {
        parsed = nodeUtil().parseArgs({ args, options: { prefix: { type: "string" }, force: { type: "boolean" }, uninstall: { type: "boolean" } }, strict: true, allowPositionals: false });
      } catch (err) {
        throw new UsageError(`poppin ${SYNOPSIS} (${(err as Error).message})`);
      }
      const binary = ctx.execPath;
      if (/(^|\/)bun$/.test(binary)) throw new UsageError("poppin install must be run from the compiled binary (npm run build; dist/poppin install)");
      const prefix = parsed.values.prefix ?? DEFAULT_PREFIX;
      if (prefix === "") throw new UsageError(`poppin ${SYNOPSIS} (empty prefix)`);
      const { classic, generic } = names();
      if (parsed.values.uninstall) {
        const { removed } = uninstall({ prefix, names: [...classic, ...generic], force: parsed.values.force ?? false });
        for (const path of removed) writeStdout(`removed ${path}\n`);
        writeStdout(removed.length > 0 ? `${removed.length} removed from ${prefix}\n` : `nothing of poppin's in ${prefix}\n`);
        return EXIT_OK;
      }
      const report = install({
        binary,
        prefix,
        names: classic,
        staleNames: generic,
        manSource: manSourceFor(binary),
        force: parsed.values.force ?? false,
      });
      const bin = report.binaryPath.replace(/\/poppin$/, "");
      if (report.binary !== "unchanged") writeStdout(`${report.binary === "created" ? "installed" : "replaced"} ${report.binaryPath}\n`);
      if (report.binary === "replaced") {
        // They keep the replaced file (deleted, still theirs) until restarted: say which.
        const old = processesRunning(`${report.binaryPath} (deleted)`);
        if (old.length > 0) {
          const who = old.slice(0, 3).map((p) => `pid ${p.pid} (${p.command.slice(0, 100)})`).join(", ");
          writeStdout(`${old.length} process${old.length === 1 ? "" : "es"} still run${old.length === 1 ? "s" : ""} the previous binary: ${who}${old.length > 3 ? ", ..." : ""}; ` +
            "restart serve (svc -t DIR, systemctl restart NAME) to move it to this one; sessions in progress finish either way\n");
        }
      }
      for (const name of report.links.replaced) writeStdout(`replaced ${bin}/${name}\n`);
      for (const name of report.removed) writeStdout(`removed ${bin}/${name} (an older install's link; use poppin ${name})\n`);
      writeStdout(`${report.links.created.length} created, ${report.links.replaced.length} replaced, ${report.links.unchanged.length} already in place in ${bin}\n`);
      if (report.manPages.length > 0) writeStdout(`${report.manPages.length} man pages in ${report.manDir}\n`);
      else if (!report.manDir) {
        // A newer binary without its man/ (npm run build alone): an earlier install's pages stay.
        const manDir = join(prefix, "share", "man");
        writeStdout(existsSync(join(manDir, "man8", "poppin.8"))
          ? `no man pages beside the binary: those in ${manDir} left as they are (npm run man makes new ones)\n`
          : "no man pages found beside the binary (npm run man makes them)\n");
      }
      return EXIT_OK;
    },
  };
}

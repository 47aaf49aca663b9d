import type { Applet } from "../cli/applet.ts";
import { EXIT_OK, EXIT_PERM, TempError, UsageError } from "../base/errors.ts";
import { writeStdout } from "../base/io.ts";
import { ByteSource } from "../cdb/byte_source.ts";
import { CdbReader } from "../cdb/reader.ts";
import { compileRoutesFile, findRoute, formatBackend } from "../proxy/routes.ts";

const USAGE = "routes compile ROUTES.cdb ROUTES.tmp < routes | routes check ROUTES.cdb LOGIN";

/** routes compile: as tcprules, the new table replaces the old one only when every line parsed. */
function compile(args: string[]): number {
  if (args.length !== 2) throw new UsageError(USAGE);
  compileRoutesFile(new ByteSource(0), args[0]!, args[1]!);
  return EXIT_OK;
}

/** routes check: where LOGIN goes, and why; exit 100 when the table routes it nowhere. */
function check(args: string[]): number {
  if (args.length !== 2) throw new UsageError(USAGE);
  const [path, login] = args as [string, string];
  let reader: CdbReader | undefined;
  let route;
  try {
    reader = CdbReader.open(path);
    // The login as its octets on the command line (UTF-8), as a client sends it: compile keeps the file's octets.
    route = findRoute(reader, Buffer.from(login, "utf8"));
  } catch (err) {
    const message = (err as Error).message;
    throw new TempError(message.startsWith("unable to read ") ? message : `unable to read ${path}: ${message}`);
  } finally {
    reader?.close();
  }
  if (route === undefined) {
    writeStdout(`${login}: no route\n`);
    return EXIT_PERM;
  }
  const how = route.kind === "exact" ? "exact" : `hashed over ${route.backends} backends`;
  writeStdout(`${login}: ${formatBackend(route.backend)} (${how})\n`);
  return EXIT_OK;
}

export const applet: Applet = {
  name: "routes",
  summary: "compile and check the proxy's route table (login -> backend)",
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    switch (sub) {
      case "compile": return compile(rest);
      case "check": return check(rest);
      default: throw new UsageError(USAGE);
    }
  },
};

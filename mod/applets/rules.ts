import type { Applet } from "../cli/applet.ts";
import type { AppletContext } from "../cli/context.ts";
import { warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_PERM, TempError, UsageError } from "../base/errors.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { ByteSource } from "../cdb/byte_source.ts";
import { CdbReader } from "../cdb/reader.ts";
import { rulesCheckReport } from "../rules/check.ts";
import { rulesTextHint } from "../rules/lookup.ts";
import { compileRulesFile } from "../rules/compile.ts";
import { closedAtStart } from "../sys/libc.ts";

/** tcprules/tcprulescheck print their usage with their own prefix and exit 100. */
const CLASSIC_USAGE: Record<string, string> = {
  compile: "tcprules: usage: tcprules rules.cdb rules.tmp\n",
  check: "tcprulescheck: usage: tcprulescheck rules.cdb\n",
};

function usageFail(ctx: AppletContext, sub: "compile" | "check"): number {
  if (ctx.classic) {
    writeStderr(CLASSIC_USAGE[sub]);
    return EXIT_PERM;
  }
  throw new UsageError(sub === "compile" ? "rules compile rules.cdb rules.tmp < rules.txt" : "rules check rules.cdb [IP [HOST [INFO]]]");
}

/**
 * tcprules rules.cdb rules.tmp: extra arguments are ignored, as tcprules ignores them.
 * Called as tcprules, addresses end at the first colon, as Debian's tcprules reads them
 * (a colon in an address is a line it cannot parse); `poppin rules compile` also reads
 * IPv6 addresses and prefixes as ucspi-tcp-ipv6's tcprules does.
 */
function compile(args: string[], ctx: AppletContext): number {
  if (args.length < 2) return usageFail(ctx, "compile");
  // `tcprules x.cdb x.tmp <&-` must not compile the empty input Bun puts on a closed fd 0 and
  // replace the old cdb with an empty one: fail as Debian's tcprules does (111, old cdb kept).
  if (closedAtStart(0)) throw new TempError("unable to read input: file descriptor not open");
  // tcprules skips a line without a colon in silence (and so does the classic name, byte for
  // byte); `poppin rules compile` says so, since such a line is a typo ("127.0.0.1 allow").
  const onIgnored = ctx.classic ? undefined : (lineNumber: number, line: Uint8Array) =>
    warning(ctx, `line ${lineNumber} has no colon and is ignored, as tcprules ignores it: ${JSON.stringify(Buffer.from(line).toString("latin1"))}`);
  compileRulesFile(new ByteSource(0), args[0], args[1], ctx.classic ? "ucspi-tcp" : "ipv6", onIgnored);
  return EXIT_OK;
}

/**
 * tcprulescheck rules.cdb: the connection comes from $TCPREMOTEIP (default 0.0.0.0),
 * $TCPREMOTEHOST and $TCPREMOTEINFO; `rules check` also takes them as arguments.
 */
function check(args: string[], ctx: AppletContext): number {
  if (args.length < 1) return usageFail(ctx, "check");
  const [path, ipArg, hostArg, infoArg] = args;
  const ip = ipArg ?? ctx.env.TCPREMOTEIP ?? "0.0.0.0";
  const host = hostArg ?? ctx.env.TCPREMOTEHOST;
  const info = infoArg ?? ctx.env.TCPREMOTEINFO;
  let report: Uint8Array;
  let reader: CdbReader | undefined;
  try {
    reader = CdbReader.open(path);
    report = rulesCheckReport(reader, ip, host, info);
  } catch (err) {
    const message = (err as Error).message;
    // A file that opened but does not parse as a cdb: tcprulescheck's words, then what it is.
    const hint = reader !== undefined ? rulesTextHint(path) : "";
    throw new TempError(`${message.startsWith("unable to read ") ? message : `unable to read ${path}: ${message}`}${hint}`);
  } finally {
    reader?.close();
  }
  writeStdout(report);
  return EXIT_OK;
}

export const applet: Applet = {
  name: "rules",
  summary: "compile and check tcpserver access rules (tcprules, tcprulescheck)",
  usage: "rules compile rules.cdb rules.tmp < rules.txt | rules check rules.cdb [IP [HOST [INFO]]]",
  async run(args, ctx) {
    const [sub, ...rest] = args;
    switch (sub) {
      case "compile": return compile(rest, ctx);
      case "check": return check(rest, ctx);
      default: throw new UsageError(applet.usage);
    }
  },
};

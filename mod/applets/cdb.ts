import type { Applet } from "../cli/applet.ts";
import type { AppletContext } from "../cli/context.ts";
import { EXIT_OK, EXIT_PERM, TempError, UsageError } from "../base/errors.ts";
import { writeAll, writeStderr } from "../base/io.ts";
import { ByteSource } from "../cdb/byte_source.ts";
import { cdbDump, type ByteSink } from "../cdb/dump.ts";
import { CdbFormatError, CdbIoError } from "../cdb/errors.ts";
import { cdbGet } from "../cdb/get.ts";
import { readCdbmakeInput } from "../cdb/make_input.ts";
import { CdbReader } from "../cdb/reader.ts";
import { CdbWriter } from "../cdb/writer.ts";
import { closedAtStart } from "../sys/libc.ts";

/**
 * Standard input closed (`cdbmake x.cdb x.tmp <&-`): Bun puts /dev/null on fd 0, which would read
 * as an empty input; say what freecdb says instead (and keep the old cdb).
 */
function requireOpenInput(what: string): void {
  if (closedAtStart(0)) throw new TempError(`unable to read input: ${what}file descriptor not open`);
}

/** freecdb's usage lines (classic names): printed as is, with its blank line, exit 100. */
const CLASSIC_USAGE: Record<string, string> = {
  make: "usage: cdbmake cdb cdb.tmp\n\n",
  get: "usage: cdbget key [skip]\n\n",
  dump: "usage: cdbdump\n\n",
};

const SUBCOMMAND_USAGE: Record<string, string> = {
  make: "cdb make CDB TMP < records",
  get: "cdb get KEY [SKIP] < CDB",
  dump: "cdb dump < CDB",
};

function usageFail(ctx: AppletContext, sub: string): number {
  if (ctx.classic) {
    writeStderr(CLASSIC_USAGE[sub]);
    return EXIT_PERM;
  }
  throw new UsageError(SUBCOMMAND_USAGE[sub] ?? "cdb make|get|dump ...");
}

/** Collects output into 64 KiB writes to stdout. */
function stdoutSink(): { sink: ByteSink; flush: () => void } {
  const buffer = new Uint8Array(1 << 16);
  let used = 0;
  const flush = (): void => {
    if (used > 0) writeAll(1, buffer.subarray(0, used));
    used = 0;
  };
  const sink = (bytes: Uint8Array): void => {
    if (used + bytes.length > buffer.length) flush();
    if (bytes.length >= buffer.length) writeAll(1, bytes);
    else {
      buffer.set(bytes, used);
      used += bytes.length;
    }
  };
  return { sink, flush };
}

function make(args: string[], ctx: AppletContext): number {
  if (args.length !== 2) return usageFail(ctx, "make");
  const [target, tmp] = args;
  requireOpenInput("entry 1: ");
  const writer = CdbWriter.create(tmp);
  try {
    readCdbmakeInput(new ByteSource(0), writer);
    writer.commit(target);
  } catch (err) {
    writer.abort();
    throw err;
  }
  return EXIT_OK;
}

function get(args: string[], ctx: AppletContext): number {
  if (args.length < 1 || args.length > 2) return usageFail(ctx, "get");
  if (args[0] === "" && ctx.classic) return usageFail(ctx, "get"); // freecdb's cdbget refuses an empty key
  let skip = 0n;
  if (args.length === 2) {
    if (!/^[0-9]*$/.test(args[1])) return usageFail(ctx, "get"); // freecdb reads "" as 0
    skip = BigInt(args[1] || "0");
  }
  requireOpenInput("");
  const out = stdoutSink();
  try {
    const reader = CdbReader.fromFd(0);
    const found = cdbGet(reader, Buffer.from(args[0], "utf8"), skip, out.sink);
    out.flush();
    return found ? EXIT_OK : EXIT_PERM;
  } catch (err) {
    out.flush();
    if (err instanceof CdbFormatError || err instanceof CdbIoError) throw new TempError(`unable to read input: ${err.message}`);
    throw err;
  }
}

function dump(args: string[], ctx: AppletContext): number {
  if (args.length !== 0) return usageFail(ctx, "dump");
  requireOpenInput("");
  const out = stdoutSink();
  try {
    cdbDump(new ByteSource(0), out.sink);
  } finally {
    out.flush();
  }
  return EXIT_OK;
}

export const applet: Applet = {
  name: "cdb",
  summary: "make, query and dump constant databases (cdbmake, cdbget, cdbdump)",
  usage: "cdb make CDB TMP < records | cdb get KEY [SKIP] < CDB | cdb dump < CDB",
  async run(args, ctx) {
    const [sub, ...rest] = args;
    switch (sub) {
      case "make": return make(rest, ctx);
      case "get": return get(rest, ctx);
      case "dump": return dump(rest, ctx);
      default: throw new UsageError(applet.usage);
    }
  },
};

/**
 * tcpserver's start-up steps shared by serve and serve --inline: where to listen (an
 * address and port, or systemd's socket), prot_gid/prot_uid after binding, and the
 * closing of stdin and stdout once the port is announced.
 */
import { openSync } from "node:fs";
import type { AppletContext } from "../cli/context.ts";
import { describeSysError, EXIT_PERM, EXIT_TEMP, TempError } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { dup2 } from "../sys/fd.ts";
import { IdSwitchError, switchGid, switchUid } from "../sys/switch_ids.ts";
import { selfResolver } from "./chain_spec.ts";
import { checkChain, ChainEnvironment } from "./chain_check.ts";
import type { Listener } from "./listener.ts";
import { resolveBindHost } from "./address.ts";
import { parseServeArgs, usageText, type ServeOptions } from "./options.ts";
import type { ListenOn } from "./server.ts";
import { resolvePort } from "./services.ts";
import { inheritedListenFd } from "./systemd.ts";

/** tcpserver's options, or its complaint and usage line on stderr and exit 100. */
export function serveOptionsOrUsage(args: readonly string[], ctx: AppletContext): ServeOptions | number {
  const parsed = parseServeArgs(args, ctx.env);
  if (parsed.kind !== "usage") return parsed.options;
  const name = ctx.classic ? ctx.calledAs : ctx.prefix;
  if (parsed.complaint) writeStderr(`${name}: ${parsed.complaint}\n`);
  if (!parsed.silent) writeStderr(`${ctx.prefix}: usage: ${usageText(name)}\n`);
  return EXIT_PERM;
}

/** Starts `start` on systemd's socket (--systemd) or on HOST PORT; a TempError's message or an unknown port is returned as text. */
export async function listenAsTold(o: ServeOptions, env: NodeJS.ProcessEnv, start: (on: ListenOn) => Promise<Listener>): Promise<Listener | string> {
  try {
    if (o.systemd) return await start({ inheritedFd: inheritedListenFd(env, process.pid) });
    const port = resolvePort(o.port);
    if (port === undefined) return `unable to figure out port number for ${o.port}`;
    // tcpserver keeps the low 16 bits: PORT=99999 would listen on 34463 without a word.
    if (/^[0-9]+$/.test(o.port) && Number(o.port) > 0xffff) return `port ${o.port} is out of range (0 to 65535; tcpserver would listen on ${port})`;
    const bind = await resolveBindHost(o.host);
    return await start({ address: bind.address, port, backlog: o.backlog });
  } catch (err) {
    if (err instanceof TempError) return err.message;
    throw err;
  }
}

/**
 * tcpserver's prot_gid and prot_uid: after bind, before accepting; any id up to 4294967294
 * (sys/switch_ids.ts). The complaint, or undefined: tcpserver's words, then, when the cause
 * is that serve was not started as root, that cause.
 */
export function dropPrivileges(gid: number, uid: number, startedAs: number = process.getuid?.() ?? 0): string | undefined {
  const why = (err: IdSwitchError): string => {
    const text = describeSysError(err);
    return startedAs !== 0 && err.code === "EPERM" ? `${text} (-g and -u need serve started as root; it runs as uid ${startedAs})` : text;
  };
  for (const [what, step] of [["gid", () => gid && switchGid(gid, { list: [gid] })], ["uid", () => uid && switchUid(uid)]] as const) {
    try {
      step();
    } catch (err) {
      if (!(err instanceof IdSwitchError)) throw err;
      return `unable to set ${what}: ${why(err)}`;
    }
  }
  return undefined;
}

/** tcpserver closes its stdin and stdout after announcing (a reader of -1 sees the end); /dev/null keeps 0 and 1 from being reused. */
export function detachStdio(): void {
  const devNull = openSync("/dev/null", "r+");
  dup2(devNull, 0);
  dup2(devNull, 1);
}

/**
 * svc -a, -1 and -2 (SIGALRM, SIGUSR1, SIGUSR2) mean something to multilog, not to serve;
 * tcpserver dies of them, which under --inline would end every session in progress (they
 * live in this process), and in either mode restarts serve for nothing. Aimed at the service
 * instead of its log (svc -a /service/*), they are ignored and said so, in both modes.
 */
const STRAY_SIGNALS = ["SIGALRM", "SIGUSR1", "SIGUSR2"] as const;

function ignoreStraySignals(ctx: AppletContext, quiet: boolean): void {
  for (const signal of STRAY_SIGNALS) {
    process.on(signal, () => {
      if (!quiet) writeStderr(`${ctx.prefix}: warning: ${signal} ignored: serve has no use for it (svc -a, -1 and -2 are for a log service: svc -a DIR/log rotates its current file)\n`);
    });
  }
}

/**
 * Checks the chain's configuration (mod/serve/chain_check.ts): exit 111 naming each
 * problem, or the environment the chain runs with; SIGHUP checks again and keeps the old
 * configuration when the new one is broken. Shared by serve and serve --inline.
 */
export function startupCheck(program: readonly string[], ctx: AppletContext, quiet: boolean, ids: { uid: number; gid: number } = { uid: 0, gid: 0 }): ChainEnvironment | number {
  const resolver = selfResolver(ctx.execPath, ctx.env.PATH);
  const runAs = ids.uid === 0 ? undefined : { name: `uid ${ids.uid}`, ...ids };
  const first = checkChain(program, ctx.env, resolver, runAs);
  if (first.problems.length > 0) {
    if (!quiet) for (const problem of first.problems) writeStderr(`${ctx.prefix}: fatal: ${problem}\n`);
    return EXIT_TEMP;
  }
  const chainEnv = new ChainEnvironment(ctx.env, first.snapshotEnv);
  // A foreign program: nothing of ours to re-check; SIGHUP keeps tcpserver's meaning.
  if (first.popup === undefined) return chainEnv;
  ignoreStraySignals(ctx, quiet);
  process.on("SIGHUP", () => {
    const again = checkChain(program, ctx.env, resolver, runAs);
    if (again.problems.length > 0) {
      if (!quiet) for (const problem of again.problems) writeStderr(`${ctx.prefix}: warning: SIGHUP: keeping the old configuration: ${problem}\n`);
      return;
    }
    chainEnv.apply(again.snapshotEnv);
    if (!quiet) writeStderr(`${ctx.prefix}: info: SIGHUP: configuration checked and in force\n`);
  });
  return chainEnv;
}


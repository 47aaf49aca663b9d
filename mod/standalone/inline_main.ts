/**
 * `serve --inline [tcpserver options] [--metrics HOST:PORT] HOST PORT poppin popup NAME
 * poppin checkpassword poppin pop3d Maildir`: the classic command line plus one word;
 * the chain must be poppin's own (it is served in this process, not run).
 */
import { selfImage } from "../sys/self_image.ts";
import { ENV, envValue } from "../base/env.ts";
import type { AppletContext } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, UsageError, describeSysError } from "../base/errors.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { timeoutWarning } from "../pop3/config.ts";
import { watchStoppedSessions } from "../serve/stopped_sessions.ts";
import { detachStdio, dropPrivileges, listenAsTold, startupCheck } from "../serve/startup.ts";
import { isMboxArgument } from "../mbox/spool_path.ts";
import { applyMboxOption, defaultMboxSettings } from "../mbox/options.ts";
import { makeUndumpable } from "../sys/dumpable.ts";
import { parsePopupChain, selfResolver } from "../serve/chain_spec.ts";
import { inlineProxySession, parseProxyChain } from "./inline_proxy.ts";
import { proxyConfig } from "../proxy/config.ts";
import { CredentialCache, credentialCacheTtlMs } from "./credential_cache.ts";
import { CryptPool } from "./crypt_pool.ts";
import { resolvePolicy } from "../policy/resolve.ts";
import { keepKeyReaders, policyTls, setupServeTls, type ServeTls } from "../tls/serve_tls.ts";
import { Server } from "../serve/server.ts";
import type { ServeOptions } from "../serve/options.ts";
import { serveInline } from "./inline_handler.ts";
import { mailWorkerMetrics, startMailWorkers } from "./mail_worker_main.ts";
import { ListingCache } from "./listing_cache.ts";
import type { InlineSetup } from "./inline_session.ts";
import { parseHostPort, startMetrics, type MetricsEndpoint } from "./metrics_server.ts";
import { SessionCounters, prometheusText, statusText } from "./session_counters.ts";
import { logLine } from "../base/log_value.ts";
import { longRunning } from "../sys/jit.ts";

/** Status line period (the issue: every minute). */
export const STATUS_INTERVAL_MS: number = ENV.statusSeconds.fallback * 1000;
/** SIGTERM: how long sessions may go on before they are closed (POPPIN_STOP_SECONDS). */
export const DEFAULT_STOP_SECONDS: number = ENV.stopSeconds.fallback;

/** POPPIN_STATUS_SECONDS: the status line's period (default a minute). */
function statusIntervalMs(env: NodeJS.ProcessEnv): number {
  return envValue(env, ENV.statusSeconds) * 1000;
}

function stopSeconds(env: NodeJS.ProcessEnv): number {
  return envValue(env, ENV.stopSeconds);
}

/** serve --inline, once tcpserver's options (and --inline, --metrics) are parsed (mod/serve/options.ts). */
export async function runInline(o: ServeOptions, ctx: AppletContext): Promise<number> {
  const quiet = o.verbosity === 0;
  const fail = (message: string, code = EXIT_TEMP) => {
    if (!quiet) writeStderr(`${ctx.prefix}: fatal: ${message}\n`);
    return code;
  };
  // The chain's configuration, checked before anything is accepted (and on SIGHUP).
  const checked = startupCheck(o.program, ctx, quiet, { uid: o.uid, gid: o.gid });
  if (typeof checked === "number") return checked;
  const resolver = selfResolver(ctx.execPath, ctx.env.PATH);
  const proxied = parseProxyChain(o.program, resolver);
  const chain = typeof proxied === "string" ? parsePopupChain(o.program, resolver) : proxied.chain;
  if (typeof chain === "string") {
    return fail(`--inline serves only poppin's own chain (popup NAME checkpassword pop3d Maildir): ${chain}`, EXIT_USAGE);
  }
  // pop3d's mbox options (--spool-dir=, --lock=, ...): checked now by pop3d's own parser, valid only with an mbox: spool.
  const mboxSettings = defaultMboxSettings();
  const badOption = chain.pop3dArgs.find((a) => a.startsWith("--") && !a.startsWith("--compat=") && (!isMboxArgument(chain.maildir) || applyMboxOption(mboxSettings, a) !== "ok"));
  if (badOption !== undefined) {
    return fail(`pop3d option ${badOption} is not ${isMboxArgument(chain.maildir) ? "a usable mbox option" : "valid for a Maildir"}`, EXIT_USAGE);
  }
  const metricsAt = o.metrics === undefined ? undefined : parseHostPort(o.metrics);
  if (o.metrics !== undefined && metricsAt === undefined) return fail(`--metrics needs HOST:PORT, not ${o.metrics}`, EXIT_USAGE);
  const badTimeout = timeoutWarning(ctx.env);
  if (badTimeout !== undefined) writeStderr(`${ctx.prefix}: warning: ${badTimeout}\n`);

  // Passwords pass through this process: no other process of its uid may read its memory
  // (the kernel does the same on the uid switch below; this covers serve started unprivileged).
  try {
    makeUndumpable();
  } catch (e) {
    writeStderr(`${ctx.prefix}: warning: unable to make serve non-dumpable: ${describeSysError(e)}\n`);
  }
  const counters = new SessionCounters();
  const ttl = credentialCacheTtlMs(ctx.env);
  const cache = ttl === undefined ? undefined : new CredentialCache(ttl);
  // The crypt helpers start on the first login, after the uid switch below.
  // Helpers and sessions' processes run this very image, even once install replaced the binary.
  const image = selfImage(ctx.execPath);
  const pool = new CryptPool(image);
  const listings = envValue(ctx.env, ENV.listingCache) ? new ListingCache() : undefined;
  const log = (line: string) => writeStderr(logLine(line));
  const setup: InlineSetup = { chain, tools: { pool, cache }, euid: 0, execPath: image, counters, listings, log };
  if (typeof proxied !== "string") {
    try {
      setup.serveSession = inlineProxySession(proxied.proxy, proxyConfig(ctx.env, proxied.proxy.backendTls));
    } catch (err) {
      if (err instanceof PoppinError) return fail(err.message);
      throw err;
    }
  }
  // Certificates are read now, before the uid switch (keys are usually root's); SIGHUP re-reads them.
  const warn = (m: string) => {
    if (!quiet) writeStderr(`${ctx.prefix}: warning: ${m}\n`);
  };
  let serveTls: ServeTls | undefined;
  try {
    if (o.tls) serveTls = setupServeTls(ctx.env, warn);
    const popupPolicy = resolvePolicy(chain.popupOptions, checked.env).policy;
    setup.stls = policyTls(popupPolicy, "STLS certificate", warn);
  } catch (err) {
    if (err instanceof PoppinError) return fail(err.message, err instanceof UsageError ? EXIT_USAGE : EXIT_TEMP);
    throw err;
  }
  const server = new Server(o, checked.env, {
    log,
    drop: (reason) => writeStderr(logLine(`${ctx.prefix}: warning: dropping connection, ${reason}\n`)),
    warn: (message) => writeStderr(logLine(`${ctx.prefix}: warning: ${message}\n`)),
  }, process.pid, serveInline(setup, serveTls), counters);
  const listener = await listenAsTold(o, ctx.env, (on) => server.start(on));
  if (typeof listener === "string") return fail(listener);
  let metrics: MetricsEndpoint | undefined;
  if (metricsAt !== undefined) {
    try {
      metrics = startMetrics(metricsAt.host, metricsAt.port, () => prometheusText(counters, o.limit, {
        cryptPending: pool.pending, cacheEntries: cache?.size ?? 0, cacheHits: cache?.hits ?? 0, cacheMisses: cache?.misses ?? 0,
      }) + (setup.workers === undefined ? "" : mailWorkerMetrics(setup.workers.figures)));
    } catch (err) {
      return fail(`unable to serve metrics on ${o.metrics}: ${describeSysError(err)}`);
    }
  }
  keepKeyReaders([serveTls, setup.stls], image, o.uid !== 0 || o.gid !== 0, warn);
  const privilegeError = dropPrivileges(o.gid, o.uid);
  if (privilegeError) return fail(privilegeError);
  setup.euid = process.geteuid?.() ?? 0;
  // Still root: system users' sessions run in mail workers started now, ahead of any login
  // (a proxy node serves no mailbox: none there).
  const workers = typeof proxied === "string" ? startMailWorkers(setup.euid, ctx, chain.pop3dPrefix, (line) => writeStderr(logLine(line)), image) : undefined;
  setup.workers = workers;
  if (o.printPort) writeStdout(`${listener.port}\n`);
  detachStdio();
  server.announce();
  // Mail workers and user processes become their user's, who may stop them (stopped_sessions.ts).
  watchStoppedSessions(checked.env, warn);
  longRunning();

  const status = setInterval(() => {
    writeStderr(`${ctx.prefix}: info: ${statusText(counters, counters.loginRate(), o.limit)}\n`);
  }, statusIntervalMs(ctx.env));
  status.unref();
  process.on("SIGHUP", () => {
    cache?.clear();
    writeStderr(`${ctx.prefix}: info: SIGHUP: certificates re-read, credential cache emptied; the user database is read at every login\n`);
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    process.on("SIGTERM", () => {
      if (stopping) return;
      stopping = true;
      const seconds = stopSeconds(ctx.env);
      writeStderr(`${ctx.prefix}: info: SIGTERM: not accepting; ${server.openConnections} sessions have ${seconds} s to finish\n`);
      void server.stop(seconds * 1000).then(() => {
        clearInterval(status);
        metrics?.stop();
        pool.close();
        workers?.close();
        resolve(EXIT_OK);
      });
    });
  });
}

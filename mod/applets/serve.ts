import type { Applet } from "../cli/applet.ts";
import type { AppletContext } from "../cli/context.ts";
import { describeSysError, EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError } from "../base/errors.ts";
import { ServeCounters, serveMetricsText } from "../serve/counters.ts";
import { parseHostPort, startMetrics, type MetricsEndpoint } from "../standalone/metrics_server.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { Server } from "../serve/server.ts";
import { relayOverTls, spawnProgram } from "../serve/handlers.ts";
import { detachStdio, dropPrivileges, listenAsTold, serveOptionsOrUsage, startupCheck } from "../serve/startup.ts";
import { runInline } from "../standalone/inline_main.ts";
import { MAIL_WORKER_FLAG, runMailWorker } from "../standalone/mail_worker.ts";
import { CRYPT_HELPER_FLAG, runCryptHelper } from "../standalone/crypt_helper.ts";
import { keepKeyReaders, policyTls, setupServeTls, type ServeTls } from "../tls/serve_tls.ts";
import { KEY_READER_FLAG, runKeyReader } from "../tls/key_reader.ts";
import { parsePopupCommand, runsThisBinary, selfResolver } from "../serve/chain_spec.ts";
import { resolvePolicy } from "../policy/resolve.ts";
import { logLine } from "../base/log_value.ts";
import { longRunning } from "../sys/jit.ts";
import { withShortProcessEnv } from "../sys/short_process.ts";
import { watchStoppedSessions } from "../serve/stopped_sessions.ts";

const USAGE = `serve [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ --per-ip n ] [ --proxy [ --proxy-from addr,... ] ] host port program [ arg ... ]
       serve [ options ] --systemd program [ arg ... ]   (socket from systemd: LISTEN_FDS/LISTEN_PID)

A drop-in tcpserver (ucspi-tcp 0.88): accepts TCP connections on host port and runs program
for each, with the connection as fds 0 and 1 and the UCSPI environment (PROTO, TCPLOCALIP,
TCPLOCALPORT, TCPLOCALHOST, TCPREMOTEIP, TCPREMOTEPORT, TCPREMOTEHOST, TCPREMOTEINFO).
host 0 means every IPv4 address; "::" every IPv6 (and IPv4) address. port is a number or
a name from /etc/services; 0 picks a free port (-1 prints it).
  -c n        at most n connections at once (default 40); more wait in the backlog
  -x cdb      rules from tcprules / poppin rules, re-read for every connection; -X: a missing cdb allows all
  -B text     write text to the client first
  -g gid -u uid -U   switch group/user after binding (-U: $GID and $UID)
  -1          print the local port on stdout
  -b n        listen backlog (default 20)
  -v -Q -q    verbose log lines / warnings only (default) / nothing
  -h -H       look up the client's host name (default) / do not
  -p -P       paranoid: the name must resolve back to the address / not (default)
  -r -R       ident lookup for TCPREMOTEINFO (default) / not; -t n bounds it (default 26 s)
  -l name     TCPLOCALHOST without DNS
  -d -D       Nagle on (default) / TCP_NODELAY;  -o -O  keep / kill IP options (default kill)
  --per-ip n  at most n connections at once from one client address
  --proxy     connections start with a HAProxy PROXY v1/v2 header, accepted only from peers in
              --proxy-from (addresses, prefixes "10.0.", CIDR) or whose rule sets PROXY_TRUSTED
  --tls       implicit TLS (sslserver, port 995): certificate and key from CERTFILE and KEYFILE
              (one PEM may hold both), read before -u/-g and again on SIGHUP; the program runs on
              pipes relayed through TLS, with SSL_PROTOCOL and SSL_CIPHER set
  --inline    serve poppin's own chain (popup NAME checkpassword pop3d Maildir) in this process:
              no process per connection
  --metrics HOST:PORT  Prometheus figures over HTTP (GET or HEAD /metrics): connections,
              denials, drops, and how programs ended (--inline: sessions and logins too)`;

/** tcpserver writes nothing at all after -q, even fatal errors. */
function fail(ctx: AppletContext, quiet: boolean, message: string): number {
  if (!quiet) writeStderr(`${ctx.prefix}: fatal: ${message}\n`);
  return EXIT_TEMP;
}

export const applet: Applet = {
  name: "serve",
  summary: "accept TCP connections and run a program for each (tcpserver)",
  usage: USAGE,
  async run(args, ctx) {
    // --inline's password-check helpers (not a tcpserver option; see mod/standalone/crypt_pool.ts).
    if (args.length === 1 && args[0] === CRYPT_HELPER_FLAG) return runCryptHelper();
    // The key reader that keeps root's rights for SIGHUP after -u/-g (mod/tls/key_reader.ts).
    if (args[0] === KEY_READER_FLAG && args.length >= 2 && args.length <= 3) return runKeyReader(args.slice(1));
    // --inline's mail workers, started by serve as root (mod/standalone/mail_worker.ts).
    if (args.length === 1 && args[0] === MAIL_WORKER_FLAG) return runMailWorker();
    const o = serveOptionsOrUsage(args, ctx);
    if (typeof o === "number") return o;
    // --inline: the same command line, the chain served in this process (mod/standalone).
    if (o.inline) return runInline(o, ctx);
    const quiet = o.verbosity === 0;
    // poppin's own chain is checked now, before anything is accepted, and again on SIGHUP.
    const chain = startupCheck(o.program, ctx, quiet, { uid: o.uid, gid: o.gid });
    if (typeof chain === "number") return chain;
    const metricsAt = o.metrics === undefined ? undefined : parseHostPort(o.metrics);
    if (o.metrics !== undefined && metricsAt === undefined) {
      if (!quiet) writeStderr(`${ctx.prefix}: fatal: --metrics needs HOST:PORT, not ${o.metrics}\n`);
      return EXIT_USAGE;
    }
    const counters = metricsAt ? new ServeCounters() : undefined;
    let tls: ServeTls | undefined;
    let stls: ServeTls | undefined;
    const warn = (m: string) => { if (!quiet) writeStderr(`${ctx.prefix}: warning: ${m}\n`); };
    try {
      // Before privileges are dropped: the key is often readable by root only. SIGHUP re-reads it.
      if (o.tls) tls = setupServeTls(ctx.env, warn);
    } catch (err) {
      if (err instanceof PoppinError) return fail(ctx, quiet, err.message);
      throw err;
    }
    // poppin's popup offering STLS gets its key material from us (never the files), so it may
    // run as a uid that cannot read the key. Unreadable here: popup reads the files itself and says why.
    const resolver = selfResolver(ctx.execPath, ctx.env.PATH);
    const popup = o.tls ? undefined : parsePopupCommand(o.program, resolver);
    if (popup !== undefined) {
      try {
        stls = policyTls(resolvePolicy(popup.popupOptions, chain.env).policy, "STLS certificate", warn);
      } catch (err) {
        if (!(err instanceof PoppinError)) throw err;
        warn(`popup's STLS certificate: ${err.message}`);
      }
    }
    // A poppin program lives for one connection: it starts with the runtime settings for that
    // (mod/sys/short_process.ts). A foreign program's environment stays tcpserver's.
    const childEnv = runsThisBinary(o.program, resolver) ? withShortProcessEnv : undefined;
    const server = new Server(o, chain.env, {
      log: (line) => writeStderr(logLine(line)),
      drop: (reason) => writeStderr(logLine(`${ctx.prefix}: warning: dropping connection, ${reason}\n`)),
      warn: (message) => writeStderr(logLine(`${ctx.prefix}: warning: ${message}\n`)),
    }, process.pid, tls ? relayOverTls(o.program, tls, childEnv) : spawnProgram(o.program, stls?.holder, chain.env, childEnv), counters);
    let metrics: MetricsEndpoint | undefined;
    process.on("SIGTERM", () => {
      void server.stop();
      metrics?.stop();
      process.exit(EXIT_OK);
    });
    const listener = await listenAsTold(o, ctx.env, (on) => server.start(on));
    if (typeof listener === "string") return fail(ctx, quiet, listener);
    if (metricsAt && counters) {
      // Bound before the uid switch, as the service port is.
      try {
        metrics = startMetrics(metricsAt.host, metricsAt.port, () => serveMetricsText(counters, server.openConnections, o.limit));
      } catch (err) {
        return fail(ctx, quiet, `unable to serve metrics on ${o.metrics}: ${describeSysError(err)}`);
      }
    }
    keepKeyReaders([tls, stls], ctx.execPath, o.uid !== 0 || o.gid !== 0, warn);
    const privilegeError = dropPrivileges(o.gid, o.uid);
    if (privilegeError) return fail(ctx, quiet, privilegeError);
    if (o.printPort) writeStdout(`${listener.port}\n`);
    detachStdio();
    server.announce();
    // A session process its user keeps stopped would hold its slot for good (stopped_sessions.ts).
    watchStoppedSessions(chain.env, warn);
    longRunning();
    return new Promise<number>(() => {});
  },
};

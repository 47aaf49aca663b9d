import type { SecureContext } from "node:tls";
import type { Applet } from "../cli/applet.ts";
import { fatal, usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, UsageError, describeSysError } from "../base/errors.ts";
import { writeStdout } from "../base/io.ts";
import { makeUndumpable } from "../sys/dumpable.ts";
import { drainPendingInput } from "../sys/poll.ts";
import { decoyCheck } from "../auth/verify.ts";
import { timeoutWarning } from "../pop3/config.ts";
import { FdChannel } from "../pop3/fd_channel.ts";
import { logValue } from "../base/log_value.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { oneProcessLogin } from "./_one_process_login.ts";
import { runLogin } from "../session/login.ts";
import { chainRunsPoppinCheckpassword, chainUserdb, selfResolver } from "../serve/chain_spec.ts";
import { bearerConfigured } from "../sasl/bearer_names.ts";
import { loginEnvironment } from "../sasl/login_env.ts";
import { userdbScramKeys } from "../sasl/scram_userdb.ts";
import type { ChannelBindingType } from "../sasl/scram.ts";
import { policyEnv, resolvePolicy, type Resolved } from "../policy/resolve.ts";
import { OPTION_SPECS, type OptionSpec } from "../policy/options.ts";
import { ENV } from "../base/env.ts";
import { clientAddressKnown } from "../base/ucspi_env.ts";

/** qmail-popup exits 1 on a usage error (its die()). */
const EXIT_POPUP_USAGE = 1;

function optionLine(spec: OptionSpec): string {
  const value = spec.kind === "bool" ? "" : spec.kind === "choice" ? `=${spec.choices!.join("|")}` : spec.kind === "number" ? "=N" : "=VALUE";
  const flag = spec.kind === "bool" ? `--${spec.name}, --no-${spec.name}` : `--${spec.name}${value}`;
  return `  ${flag.padEnd(34)} ${spec.help} (${spec.env})`;
}

const USAGE = [
  "popup [-f CONFIG] [--NAME=VALUE ...] hostname subprogram [args...]",
  "",
  "qmail-popup: the POP3 authorization state. Greets, reads USER/PASS, APOP, AUTH PLAIN or STLS,",
  "then runs subprogram (checkpassword) with user\\0password\\0timestamp\\0 on fd 3. Each option",
  "below is also `set NAME = VALUE` in the configuration file and a POPPIN_ variable; later",
  "sources win: file, environment, flags.",
  "  -f CONFIG                          read options from this file (Qpopper syntax; POPPIN_CONFIG)",
  ...OPTION_SPECS.map(optionLine),
].join("\n");

export const applet: Applet = {
  name: "popup",
  summary: "POP3 login (qmail-popup): USER/PASS/APOP/AUTH PLAIN/STLS, then runs checkpassword with fd 3",
  usage: USAGE,
  async run(args, ctx) {
    // Clear-text passwords and the STLS key pass through this process, which runs with serve's
    // uid (under -u, often one other processes share): none of them may ptrace it or read its
    // memory. (An exec made it dumpable again; the kernel does this itself only on a uid switch.)
    try {
      makeUndumpable();
    } catch (e) {
      warning(ctx, `unable to make popup non-dumpable: ${describeSysError(e)}`);
    }
    const usageLine = `${ctx.classic ? ctx.calledAs : ctx.prefix} [-f CONFIG] [--NAME=VALUE ...] hostname subprogram [args...]`;
    let resolved: Resolved;
    try {
      resolved = resolvePolicy(args, ctx.env);
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      writeStdout(err(TEXT.authTemp));
      if (e instanceof UsageError) {
        warning(ctx, e.message);
        usage(ctx, usageLine);
        return ctx.classic ? EXIT_POPUP_USAGE : EXIT_USAGE;
      }
      fatal(ctx, e.message);
      return EXIT_TEMP;
    }
    const { policy, settings } = resolved;
    const [hostname, ...chain] = resolved.rest;
    if (hostname === undefined || hostname === "" || chain.length === 0) {
      writeStdout(err(TEXT.usagePopup));
      usage(ctx, usageLine);
      return ctx.classic ? EXIT_POPUP_USAGE : EXIT_USAGE;
    }
    // Started by inetd or socket activation (no tcpserver): the connection itself says who the
    // client is, as tcpserver would have. The ffi code loads only then: under serve it costs nothing.
    if (!clientAddressKnown(ctx.env)) (await import("../serve/inherited_connection.ts")).fillFromInheritedConnection(ctx.env, 0);
    const badTimeout = timeoutWarning(ctx.env);
    if (badTimeout !== undefined) warning(ctx, badTimeout);
    const remoteIp = ctx.env.TCPREMOTEIP ?? "unknown";
    const rip = logValue(remoteIp);
    const implicitTls = (ctx.env.SSL_PROTOCOL ?? "") !== "";
    // mod/tls is loaded only where TLS is in play: a plain-text session never pays for it.
    const tls = implicitTls || policy.certFile !== undefined || (ctx.env[ENV.tlsFd.name] ?? "") !== "" ? await import("./_popup_tls.ts") : undefined;
    let context: SecureContext | undefined;
    try {
      // serve hands us the material it read (POPPIN_TLS_FD): we never read the key ourselves then.
      // Under implicit TLS, STLS is never offered: no key is read at all.
      const material = tls?.materialFromEnv(ctx.env);
      const files = policy.certFile === undefined ? undefined : { certFile: policy.certFile, keyFile: policy.keyFile, minVersion: policy.tlsMinVersion, ciphers: policy.tlsCiphers };
      if (tls !== undefined && files !== undefined && !implicitTls) context = material !== undefined ? tls.contextFromMaterial(material, files) : tls.loadTlsContext(files);
      material?.fill(0);
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      writeStdout(err(TEXT.authTemp));
      fatal(ctx, `${e.message} rip=${rip}`);
      return EXIT_TEMP;
    }
    const chainEnv = loginEnvironment({ ...ctx.env, ...policyEnv(settings) }, undefined);
    delete chainEnv[ENV.tlsFd.name];
    const oneProcess = oneProcessLogin(chain, ctx, chainEnv);
    const resolver = selfResolver(ctx.execPath, chainEnv.PATH);
    const userdb = chainUserdb(chain, resolver, chainEnv);
    // Behind serve --tls, popup sees plain text; serve passed the binding data along.
    const stdio = Object.assign(new FdChannel(0, 1, policy.timeoutMs), {
      channelBinding: (type: ChannelBindingType) => (implicitTls ? tls!.channelBindingFromEnv(ctx.env, type) : undefined),
    });
    // Only poppin's checkpassword understands a bearer token beside fd 3; the OAuth code loads only then.
    const bearer = bearerConfigured(chainEnv) && chainRunsPoppinCheckpassword(chain, resolver) ? (await import("../sasl/oauthbearer.ts")).bearerExchange : undefined;
    await runLogin(stdio, {
      policy,
      env: ctx.env,
      timestamp: `<${process.pid}.${Math.floor(Date.now() / 1000)}@${hostname}>`,
      // A bearer login's decoy checks the token: OAuth's code is loaded only then (bearer_names.ts).
      decoy: async (password, login) => {
        if (login?.bearer === undefined) return decoyCheck(password);
        const { bearerDecoy } = await import("../auth/oauth.ts");
        return bearerDecoy(login.bearer, chainEnv);
      },
      startTls: context === undefined ? undefined : () => tls!.upgradeStdio(context, policy.tlsHandshakeTimeoutMs, policy.timeoutMs),
      // poppin's own checkpassword and pop3d: checked and served in this process (_one_process_login.ts).
      authenticate: (data, channel, login) => {
        const env = loginEnvironment(chainEnv, login);
        // A TLS channel exists only where mod/tls was loaded; a foreign chain loads the spawning code when it runs.
        return tls !== undefined && channel instanceof tls.TlsChannel ? tls.runChainOverTls(chain, data, env, channel)
          : oneProcess !== undefined ? oneProcess(data, env) : import("./_run_chain.ts").then(({ runChain }) => runChain(chain, data, env));
      },
      warn: (text) => warning(ctx, text),
      scramKeys: userdb === undefined ? undefined : userdbScramKeys(userdb),
      bearer,
    });
    // Input the session left unread (pipelined past a refusal) is dropped before we exit: see pop3d.
    drainPendingInput(0);
    return EXIT_OK;
  },
};

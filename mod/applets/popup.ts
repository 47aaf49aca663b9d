import type { SecureContext } from "node:tls";
import type { Applet } from "../cli/applet.ts";
import { fatal, usage, warning } from "../cli/context.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, UsageError } from "../cli/errors.ts";
import { writeStdout } from "../cli/io.ts";
import { decoyCheck } from "../auth/verify.ts";
import { runChain } from "../pop3/chain.ts";
import { apopOffered, timeoutInvalid } from "../pop3/config.ts";
import { FdChannel } from "../pop3/fd_channel.ts";
import { logValue } from "../pop3/log_value.ts";
import { servePopup } from "../pop3/popup_server.ts";
import { TEXT, err } from "../pop3/responses.ts";
import { oneProcessLogin } from "../standalone/one_process_login.ts";
import { chainRunsPoppinCheckpassword, chainUserdb, selfResolver } from "../standalone/chain_spec.ts";
import { bearerConfigured } from "../auth/oauth.ts";
import { loginEnvironment } from "../sasl/login_env.ts";
import { userdbScramKeys } from "../sasl/scram_userdb.ts";
import type { ChannelBindingType } from "../sasl/scram.ts";
import { channelBindingFromEnv } from "../tls/channel_binding.ts";
import { loginChecks } from "../policy/login_checks.ts";
import { loginPolicy } from "../policy/login_policy.ts";
import { policyEnv, resolvePolicy, type Resolved } from "../policy/resolve.ts";
import { OPTION_SPECS, type OptionSpec } from "../policy/options.ts";
import { runChainOverTls } from "../tls/chain_over_tls.ts";
import { loadTlsContext } from "../tls/context.ts";
import { TLS_FD_VARIABLE, contextFromMaterial, materialFromEnv } from "../tls/key_material.ts";
import { upgradeStdio } from "../tls/stdio_tls.ts";
import { TlsChannel } from "../tls/tls_channel.ts";

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
    if (timeoutInvalid(ctx.env)) warning(ctx, `ignoring POPPIN_TIMEOUT=${logValue(ctx.env.POPPIN_TIMEOUT ?? "")}: not a positive number of seconds`);
    const remoteIp = ctx.env.TCPREMOTEIP ?? "unknown";
    const rip = logValue(remoteIp);
    const implicitTls = (ctx.env.SSL_PROTOCOL ?? "") !== "";
    let context: SecureContext | undefined;
    try {
      // serve hands us the material it read (POPPIN_TLS_FD): we never read the key ourselves then.
      // Under implicit TLS, STLS is never offered: no key is read at all.
      const material = materialFromEnv(ctx.env);
      const files = policy.certFile === undefined ? undefined : { certFile: policy.certFile, keyFile: policy.keyFile, minVersion: policy.tlsMinVersion, ciphers: policy.tlsCiphers };
      if (files !== undefined && !implicitTls) context = material !== undefined ? contextFromMaterial(material, files) : loadTlsContext(files);
      material?.fill(0);
    } catch (e) {
      if (!(e instanceof PoppinError)) throw e;
      writeStdout(err(TEXT.authTemp));
      fatal(ctx, `${e.message} rip=${rip}`);
      return EXIT_TEMP;
    }
    const chainEnv = loginEnvironment({ ...ctx.env, ...policyEnv(settings) }, undefined);
    delete chainEnv[TLS_FD_VARIABLE];
    const oneProcess = oneProcessLogin(chain, ctx, chainEnv);
    const checks = loginChecks(policy, remoteIp);
    const resolver = selfResolver(ctx.execPath, chainEnv.PATH);
    const userdb = chainUserdb(chain, resolver, chainEnv);
    // Behind serve --tls, popup sees plain text; serve passed the binding data along.
    const stdio = Object.assign(new FdChannel(0, 1, policy.timeoutMs), {
      channelBinding: (type: ChannelBindingType) => (implicitTls ? channelBindingFromEnv(ctx.env, type) : undefined),
    });
    const end = await servePopup(stdio, {
      timestamp: `<${process.pid}.${Math.floor(Date.now() / 1000)}@${hostname}>`,
      offerApop: policy.apop ?? apopOffered(ctx.env),
      policy: loginPolicy(policy, remoteIp, context !== undefined && !implicitTls),
      tls: implicitTls,
      failureDelayMs: policy.failureDelayMs,
      admit: checks.admit,
      decoy: (password) => decoyCheck(password),
      startTls: context === undefined ? undefined : () => upgradeStdio(context, policy.tlsHandshakeTimeoutMs, policy.timeoutMs),
      // poppin's own checkpassword and pop3d: checked and served in this process (mod/standalone).
      authenticate: (data, channel, login) => {
        const env = loginEnvironment(chainEnv, login);
        return channel instanceof TlsChannel ? runChainOverTls(chain, data, env, channel)
          : oneProcess !== undefined ? oneProcess(data, env) : runChain(chain, data, env);
      },
      onFailure: (user, failure, detail, mechanism) => warning(ctx, checks.failed(user, failure, detail, mechanism)),
      scramKeys: userdb === undefined ? undefined : userdbScramKeys(userdb),
      // Only poppin's checkpassword understands a bearer token beside fd 3.
      bearer: bearerConfigured(chainEnv) && chainRunsPoppinCheckpassword(chain, resolver),
    });
    if (end === "tls-failed") warning(ctx, `TLS negotiation failed rip=${rip}`);
    if (end === "tls-on-plain") warning(ctx, `TLS handshake on the plain port, dropped rip=${rip}`);
    return EXIT_OK;
  },
};

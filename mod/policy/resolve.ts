/**
 * Resolving the policy from its three sources, later ones winning: the config file
 * (`-f FILE`, or POPPIN_CONFIG), the environment (POPPIN_*, CERTFILE, KEYFILE), and
 * the command-line flags (`--name=value`, `--name` for true, `--no-name` for false).
 * The result is typed (Policy) and can be exported back into an environment for the
 * rest of the chain (policyEnv).
 */
import { ENV, envValue } from "../base/env.ts";
import { UsageError } from "../base/errors.ts";
import { readConfigFile, type Origins, type Settings } from "./config_file.ts";
import { OPTION_SPECS, checkValue, optionSpec, type ClearTextMode } from "./options.ts";

type Env = Readonly<Record<string, string | undefined>>;

export interface Policy {
  certFile: string | undefined;
  keyFile: string | undefined;
  tlsMinVersion: "TLSv1.2" | "TLSv1.3";
  tlsCiphers: string | undefined;
  tlsHandshakeTimeoutMs: number;
  clearText: ClearTextMode;
  /** undefined: decided by POPPIN_APOP_SECRETS as before. */
  apop: boolean | undefined;
  authFile: string | undefined;
  nonauthFile: string | undefined;
  downcaseUser: boolean;
  trimDomain: boolean;
  timeoutMs: number;
  autoDelete: boolean;
  loginDelaySeconds: number | undefined;
  /** Days, "never", or undefined when not announced. */
  expire: number | "never" | undefined;
  shy: boolean;
  saslLogin: boolean;
  updateOnAbort: boolean;
  logLogin: string | undefined;
  statistics: boolean;
  bulletinDir: string | undefined;
  maxBulletins: number;
  failureDelayMs: number;
  failureDir: string | undefined;
  failureLimit: number;
  failureWindowSeconds: number;
  mailboxLock: "session" | "none";
}

export interface Resolved {
  policy: Policy;
  /** Every option's resolved value (strings, as in the table), for policyEnv. */
  settings: Settings;
  /** The arguments after the options. */
  rest: string[];
  /** Where each set value came from: "FILE line N", "environment NAME", "flag --name=value"; absent: the default. */
  origins: Origins;
  /** The config file read (-f, --config-file or POPPIN_CONFIG), if any. */
  configFile: string | undefined;
}

/**
 * Set by serve in the chain's environment once it has read and checked the config file
 * named here and put its values in the environment (POPPIN_*): popup and pop3d then take
 * those values instead of reading the file again, so a file edited with a typo changes
 * nothing until SIGHUP re-checks it (mod/serve/chain_check.ts).
 */
export const CONFIG_CHECKED_VARIABLE: string = ENV.configChecked.name;

/**
 * Qpopper's command-line flags (in.qpopper in inetd.conf), said instead of taking one for the
 * hostname: no host name starts with '-', and the chain would run the real host name as
 * its program and fail every login.
 */
const QPOPPER_FLAGS: Readonly<Record<string, string>> = {
  s: "--statistics", T: "--timeout=SECONDS", c: "--downcase-user", b: "--bulletins=DIR",
  e: "--announce-login-delay=N and --announce-expire=N", p: "--clear-text-password=default|never|always|local|tls",
  R: "serve's -H (no host-name lookups)", S: "nothing: pop3d always works in server mode",
  l: "a certificate (tls-server-cert-file) for STLS, serve --tls for port 995",
  y: "nothing: poppin's programs log to stderr", t: "nothing: there is no trace file",
  v: "poppin --version",
};

function singleDashFlag(a: string): UsageError {
  const hint = QPOPPER_FLAGS[a[1]!];
  return new UsageError(`unknown option ${a}${hint === undefined ? "" : ` (Qpopper's -${a[1]} is ${hint} here)`}: popup takes -f FILE and --NAME=VALUE options before the host name`);
}

/** Parses leading `-f FILE` and `--option[=value]` arguments; stops at the first other one (or `--`). */
export function parsePolicyFlags(args: readonly string[]): { file: string | undefined; flags: Settings; rest: string[] } {
  const flags: Settings = new Map();
  let file: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") { i++; break; }
    if (a === "-f") {
      const f = args[++i];
      if (f === undefined || f === "") throw new UsageError("-f needs a file name");
      file = f;
      continue;
    }
    if (a.length > 1 && a.startsWith("-") && !a.startsWith("--")) throw singleDashFlag(a);
    if (!a.startsWith("--")) break;
    const eq = a.indexOf("=");
    let name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    let value = eq < 0 ? undefined : a.slice(eq + 1);
    if (value === undefined && name.startsWith("no-") && optionSpec(name) === undefined) {
      name = name.slice(3);
      value = "0";
    }
    const spec = optionSpec(name);
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    if (value === undefined) {
      if (spec.kind !== "bool") throw new UsageError(`--${name} needs a value (--${name}=VALUE)`);
      value = "1";
    }
    const checked = checkValue(spec, value);
    if ("error" in checked) throw new UsageError(checked.error);
    if (name === "config-file") file = checked.value;
    else flags.set(name, checked.value);
  }
  return { file, flags, rest: args.slice(i) };
}

const LENIENT_ENV = new Set([ENV.timeout.name, ENV.apop.name]);

/** Environment values; a bad one is an error naming the variable. */
function envSettings(env: Env, origins?: Origins): Settings {
  const out: Settings = new Map();
  for (const spec of OPTION_SPECS) {
    if (spec.name === "config-file") continue;
    const raw = env[spec.env];
    if (raw === undefined || raw === "") continue;
    const checked = checkValue(spec, raw);
    if ("error" in checked) {
      // popup and pop3d always warned about and ignored these two (mod/pop3/config.ts): keep that.
      if (LENIENT_ENV.has(spec.env)) continue;
      throw new UsageError(`${spec.env}: ${checked.error}`);
    }
    out.set(spec.name, checked.value);
    origins?.set(spec.name, `environment ${spec.env}`);
  }
  return out;
}

/** Reads the config file (if any), then the environment, then the flags. Throws PermError/UsageError. */
export function resolvePolicy(args: readonly string[], env: Env): Resolved {
  const { file, flags, rest } = parsePolicyFlags(args);
  const settings: Settings = new Map();
  const origins: Origins = new Map();
  const configFile = file ?? envValue(env, ENV.config);
  // Already read and checked by serve, its values are in the environment (CONFIG_CHECKED_VARIABLE).
  const checked = configFile !== undefined && env[CONFIG_CHECKED_VARIABLE] === configFile;
  if (configFile !== undefined && !checked) readConfigFile(configFile, settings, 0, new Set(), origins);
  if (configFile !== undefined) origins.set("config-file", file !== undefined ? "flag -f" : `environment ${ENV.config.name}`);
  for (const [k, v] of envSettings(env, origins)) settings.set(k, v);
  for (const [k, v] of flags) {
    settings.set(k, v);
    origins.set(k, `flag --${k}=${v}`);
  }
  return { policy: toPolicy(settings), settings, rest, origins, configFile };
}

function get(settings: Settings, name: string): string {
  return settings.get(name) ?? optionSpec(name)!.fallback;
}

export function toPolicy(s: Settings): Policy {
  const str = (n: string) => (get(s, n) === "" ? undefined : get(s, n));
  const bool = (n: string) => get(s, n) === "1";
  const num = (n: string) => Number(get(s, n));
  const expire = str("announce-expire");
  const cert = str("tls-server-cert-file");
  return {
    certFile: cert,
    keyFile: str("tls-private-key-file") ?? cert,
    tlsMinVersion: get(s, "tls-version") === "tlsv1.3" ? "TLSv1.3" : "TLSv1.2",
    tlsCiphers: str("tls-cipher-list"),
    tlsHandshakeTimeoutMs: num("tls-handshake-timeout") * 1000,
    clearText: get(s, "clear-text-password") as ClearTextMode,
    apop: get(s, "apop") === "" ? undefined : bool("apop"),
    authFile: str("auth-file"),
    nonauthFile: str("nonauth-file"),
    downcaseUser: bool("downcase-user"),
    trimDomain: bool("trim-domain"),
    timeoutMs: num("timeout") * 1000,
    autoDelete: bool("auto-delete"),
    loginDelaySeconds: str("announce-login-delay") === undefined ? undefined : num("announce-login-delay"),
    expire: expire === undefined ? undefined : expire === "never" ? "never" : Number(expire),
    shy: bool("shy"),
    saslLogin: bool("sasl-login"),
    updateOnAbort: bool("update-on-abort"),
    logLogin: str("log-login"),
    statistics: bool("statistics"),
    bulletinDir: str("bulletins"),
    maxBulletins: num("max-bulletins"),
    failureDelayMs: Math.round(num("auth-failure-delay") * 1000),
    failureDir: str("auth-failure-dir"),
    failureLimit: num("auth-failure-limit"),
    failureWindowSeconds: num("auth-failure-window"),
    mailboxLock: get(s, "mailbox-lock") as "session" | "none",
  };
}

/** The resolved settings as environment variables for the rest of the chain (config-file already read). */
export function policyEnv(settings: Settings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of settings) {
    const spec = optionSpec(name);
    if (spec !== undefined && spec.name !== "config-file") out[spec.env] = value;
  }
  return out;
}

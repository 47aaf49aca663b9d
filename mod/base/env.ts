/**
 * Every POPPIN_* environment variable poppin reads, declared once: its name, how its text
 * is parsed, and what applies when it is unset, empty or (for the lenient readers) invalid.
 * Readers take values through envValue (lenient: the default), envStrict (a usage error
 * naming the variable) or envCheck (the caller decides, e.g. to warn). The options of
 * popup's login policy are variables too: optionVariable() names them (POPPIN_ and the
 * option's name), and mod/policy/options.ts declares their values with the option.
 */
import { UsageError } from "./errors.ts";

type Env = Readonly<Record<string, string | undefined>>;

export interface EnvVariable<T> {
  readonly name: string;
  /** The value of a non-empty text, or undefined when the text is not valid. */
  readonly parse: (text: string) => T | undefined;
  /** Unset or empty (and, for lenient readers, invalid). */
  readonly fallback: T;
  /** What a valid value is, for the error message ("a number"). */
  readonly expected: string;
}

function variable<T>(name: string, expected: string, fallback: T, parse: (text: string) => T | undefined): EnvVariable<T> {
  return { name, expected, fallback, parse };
}

/** Decimal digits, at most `digits` of them, at least `min`. */
const whole = (digits: number, min = 0) => (text: string): number | undefined =>
  new RegExp(`^[0-9]{1,${digits}}$`).test(text) && Number(text) >= min ? Number(text) : undefined;
const text = (t: string): string | undefined => t;
/** "0" turns it off; anything else leaves it on. */
const offByZero = (t: string): boolean => t !== "0";

export const ENV = {
  /** Seconds of client silence (and of a client taking nothing) before a session ends: qmail's 1200. */
  timeout: variable("POPPIN_TIMEOUT", "a positive number of seconds", 1200, whole(9, 1)),
  /** pop3d's --compat default: qmail (qmail-pop3d's sizes, order and LAST) or rfc. */
  compat: variable<"rfc" | "qmail">("POPPIN_COMPAT", "qmail or rfc", "rfc", (t) => (t === "rfc" ? "rfc" : t === "qmail" ? "qmail" : undefined)),
  /** Whether popup offers APOP: 1 on, 0 off; unset, decided by POPPIN_APOP_SECRETS. */
  apop: variable<boolean | undefined>("POPPIN_APOP", "0 or 1", undefined, (t) => (t === "1" ? true : t === "0" ? false : undefined)),
  /** `user:secret` lines for system accounts' APOP. */
  apopSecrets: variable<string | undefined>("POPPIN_APOP_SECRETS", "a file name", undefined, text),
  /** The virtual-user database (a .cdb or its text file); unset: system accounts. */
  userdb: variable<string | undefined>("POPPIN_USERDB", "a file name", undefined, text),
  /** The lowest uid a system account may have. */
  minUid: variable("POPPIN_MIN_UID", "a number", 1000, whole(10)),
  /** Virtual users' homes must lie inside this directory. */
  homeBase: variable<string | undefined>("POPPIN_HOME_BASE", "a directory", undefined, text),
  /** popup's and pop3d's configuration file (Qpopper syntax). */
  config: variable<string | undefined>("POPPIN_CONFIG", "a file name", undefined, text),
  /** serve -> popup and pop3d: the configuration file serve already read and checked (its values are in the environment). */
  configChecked: variable<string | undefined>("POPPIN_CONFIG_CHECKED", "a file name", undefined, text),
  /** serve -> popup: the descriptor holding the STLS key material serve read. */
  tlsFd: variable<number | undefined>("POPPIN_TLS_FD", "a descriptor", undefined, whole(4)),
  /** serve --inline (root) -> pop3d: started in "/", change to $HOME as the user first. */
  enterHome: variable<string | undefined>("POPPIN_ENTER_HOME", "1", undefined, text),
  /** serve --inline (root) -> pop3d: the account's "UID:GID", which pop3d (started as root) becomes before anything else. */
  become: variable<string | undefined>("POPPIN_BECOME", "UID:GID", undefined, text),
  /** serve --inline -> pop3d: commands pipelined after PASS (base64). */
  pipelined: variable<string | undefined>("POPPIN_PIPELINED", "base64", undefined, text),
  /** serve --inline -> pop3d: a descriptor holding what was pipelined after PASS (more than fits in POPPIN_PIPELINED). */
  pipelinedFd: variable<string | undefined>("POPPIN_PIPELINED_FD", "a descriptor", undefined, text),
  /** serve --inline as root: idle mail workers kept (0: a process per session); unset: from the CPUs. */
  mailWorkers: variable<number | undefined>("POPPIN_MAIL_WORKERS", "a number", undefined, whole(4)),
  /** serve --inline: seconds sessions may go on after SIGTERM. */
  stopSeconds: variable("POPPIN_STOP_SECONDS", "a number of seconds", 60, whole(6)),
  /** serve --inline: seconds between status lines. */
  statusSeconds: variable("POPPIN_STATUS_SECONDS", "a positive number of seconds", 60, whole(5, 1)),
  /** serve --inline: seconds a verified password is remembered; 0: no cache. */
  authCacheTtl: variable("POPPIN_AUTH_CACHE_TTL", "a number of seconds", 0, whole(7)),
  /** serve --inline: 0 scans every Maildir at every login (no listing cache). */
  listingCache: variable("POPPIN_LISTING_CACHE", "0 or 1", true, offByZero),
  /** popup: 0 runs poppin's own checkpassword and pop3d as processes (no one-process login). */
  oneProcess: variable("POPPIN_ONE_PROCESS", "0 or 1", true, offByZero),
  /** OAuth (OAUTHBEARER, XOAUTH2): the JWKS file that verifies tokens locally. */
  oauthJwks: variable<string | undefined>("POPPIN_OAUTH_JWKS", "a file name", undefined, text),
  /** OAuth: the RFC 7662 introspection endpoint (https://). */
  oauthIntrospectionUrl: variable<string | undefined>("POPPIN_OAUTH_INTROSPECTION_URL", "an https:// URL", undefined, text),
  /** OAuth: seconds an introspection request may take. */
  oauthTimeout: variable("POPPIN_OAUTH_TIMEOUT", "a positive number of seconds", 5, (t) => (/^[0-9]+(\.[0-9]+)?$/.test(t) && Number(t) > 0 ? Number(t) : undefined)),
  oauthIssuer: variable<string | undefined>("POPPIN_OAUTH_ISSUER", "an issuer", undefined, text),
  oauthAudience: variable<string | undefined>("POPPIN_OAUTH_AUDIENCE", "an audience", undefined, text),
  oauthUserClaim: variable<string | undefined>("POPPIN_OAUTH_USER_CLAIM", "a claim name", undefined, text),
  oauthClientId: variable<string | undefined>("POPPIN_OAUTH_CLIENT_ID", "a client id", undefined, text),
  oauthClientSecret: variable<string | undefined>("POPPIN_OAUTH_CLIENT_SECRET", "a client secret", undefined, text),
  oauthCaFile: variable<string | undefined>("POPPIN_OAUTH_CA_FILE", "a file name", undefined, text),
  /** popup -> checkpassword: the bearer token of an OAUTHBEARER/XOAUTH2 login, beside fd 3. */
  saslBearer: variable<string | undefined>("POPPIN_SASL_BEARER", "a token", undefined, text),
  /** popup -> checkpassword -> pop3d: how the user logged in (USER, APOP, PLAIN, SCRAM-SHA-256 ...). */
  authMechanism: variable<string | undefined>("POPPIN_AUTH_MECH", "a mechanism name", undefined, text),
  /** popup -> pop3d: the SASL mechanisms CAPA announced when the user logged in ("none": no SASL line), so CAPA after the login announces the same (RFC 2449 section 5). */
  saslOffered: variable<string | undefined>("POPPIN_SASL_OFFERED", "SASL mechanism names or none", undefined, text),
  /** serve --tls -> popup: the TLS channel binding data (base64) for SCRAM-*-PLUS. */
  tlsExporter: variable<string | undefined>("POPPIN_TLS_EXPORTER", "base64", undefined, text),
  tlsServerEndPoint: variable<string | undefined>("POPPIN_TLS_SERVER_END_POINT", "base64", undefined, text),
  /** The proxy: seconds to connect to and log in at a backend. */
  backendTimeout: variable("POPPIN_BACKEND_TIMEOUT", "a positive number of seconds", 15, whole(6, 1)),
  /** The proxy: CA file for --backend-tls (unset: the system store). */
  backendCa: variable<string | undefined>("POPPIN_BACKEND_CA", "a file name", undefined, text),
  /** qmqpd: seconds for the whole request, as qmail-qmqpd. */
  qmqpTimeout: variable("POPPIN_QMQP_TIMEOUT", "a number", 3600, whole(12)),
} as const;

/** The variable carrying popup's login-policy option `option` (mod/policy/options.ts). */
export function optionVariable(option: string): string {
  return `POPPIN_${option.toUpperCase().replaceAll("-", "_")}`;
}

/** The value, or the default when unset or empty; `bad` holds an invalid text (the default applies then). */
export function envCheck<T>(env: Env, v: EnvVariable<T>): { value: T; bad?: string } {
  const raw = env[v.name];
  if (raw === undefined || raw === "") return { value: v.fallback };
  const value = v.parse(raw);
  return value === undefined ? { value: v.fallback, bad: raw } : { value };
}

/** The value; unset, empty or invalid: the default. */
export function envValue<T>(env: Env, v: EnvVariable<T>): T {
  return envCheck(env, v).value;
}

/** The value; invalid text is a usage error naming the variable. */
export function envStrict<T>(env: Env, v: EnvVariable<T>): T {
  const checked = envCheck(env, v);
  if (checked.bad !== undefined) throw new UsageError(`${v.name} must be ${v.expected}, not ${checked.bad}`);
  return checked.value;
}

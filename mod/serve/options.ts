/**
 * tcpserver's command line, parsed as ucspi-tcp 0.88 parses it (djb's getopt with the
 * option string "dDvqQhHrR1UXx:t:u:g:l:b:B:c:pPoO", numbers read by scan_ulong), plus
 * poppin's long options. djb's getopt takes any argument starting with "--" as the end of the
 * options (and drops it), so "--word" before HOST did nothing there; here it is a long option
 * or a usage error (docs/serve.md lists this difference).
 */
import { MAX_ID } from "../sys/switch_ids.ts";

/** tcpserver's defaults (ucspi-tcp 0.88 tcpserver.c). */
export const DEFAULT_LIMIT = 40;
export const DEFAULT_BACKLOG = 20;
/** Seconds for the ident (RFC 1413) query; tcpserver's -t default. */
export const DEFAULT_TIMEOUT = 26;

export interface ServeOptions {
  host: string;
  port: string;
  program: string[];
  /** -c: simultaneous connections (children). */
  limit: number;
  /** -b: listen(2) backlog. */
  backlog: number;
  /** -x: rules cdb, re-opened for every connection. */
  rulesPath: string | undefined;
  /** -X: a missing rules cdb allows every connection. */
  allowMissingRules: boolean;
  /** -B: written to the client before anything else. */
  banner: string;
  uid: number;
  gid: number;
  /** -1: print the local port on stdout. */
  printPort: boolean;
  /** -d (true, default) / -D (false: TCP_NODELAY). */
  delay: boolean;
  /** -O (true, default) / -o: remove IP options. */
  killIpOptions: boolean;
  /** -h (default) / -H: reverse DNS of the client. */
  remoteHost: boolean;
  /** -p / -P (default): the client name must resolve back to its address. */
  paranoid: boolean;
  /** -r (default) / -R: ident lookup for TCPREMOTEINFO. */
  remoteInfo: boolean;
  /** -l: TCPLOCALHOST without a DNS lookup ("0" still means the name "0"). */
  localName: string | undefined;
  /** -t: ident timeout in seconds. */
  timeout: number;
  /** 0 (-q), 1 (-Q, default), 2 (-v). */
  verbosity: number;
  /** --systemd: accept on the socket inherited as fd 3 (LISTEN_FDS); no HOST PORT on the command line. */
  systemd: boolean;
  /** --proxy: every connection starts with a PROXY protocol v1 or v2 header. */
  proxy: boolean;
  /** --proxy-from: peers allowed to send the header (addresses, tcprules prefixes "10.0.", or CIDR). */
  proxyFrom: string[];
  /** --per-ip: simultaneous connections per client address (0: no limit). */
  perIp: number;
  /** --tls: implicit TLS (sslserver): certificate from CERTFILE/KEYFILE, program on relayed pipes. */
  tls: boolean;
  /** --inline: poppin's own chain served in this process (mod/standalone), not run. */
  inline: boolean;
  /** --metrics HOST:PORT: Prometheus figures over HTTP. */
  metrics: string | undefined;
}

export type ParseResult =
  | { kind: "ok"; options: ServeOptions }
  /** `complaint` is getopt's line ("illegal option -- z"); `silent`: -q was given, tcpserver prints nothing then. */
  | { kind: "usage"; complaint?: string; silent: boolean };

/** djb's scan_ulong: the leading decimal digits (none: 0) and how many characters they took. */
export function scanUlong(text: string): { value: number; used: number } {
  let value = 0;
  let used = 0;
  while (used < text.length) {
    const c = text.charCodeAt(used);
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
    used++;
  }
  return { value, used };
}

const FLAGS = "dDvqQhHrR1UXpPoO";
const WITH_ARGUMENT = "xtuglbBc";
const LONG_WITH_ARGUMENT = new Set(["proxy-from", "per-ip", "metrics"]);
const LONG_FLAGS = new Set(["systemd", "proxy", "tls", "inline"]);

function defaults(): ServeOptions {
  return {
    host: "", port: "", program: [], limit: DEFAULT_LIMIT, backlog: DEFAULT_BACKLOG,
    rulesPath: undefined, allowMissingRules: false, banner: "", uid: 0, gid: 0,
    printPort: false, delay: true, killIpOptions: true, remoteHost: true, paranoid: false,
    remoteInfo: true, localName: undefined, timeout: DEFAULT_TIMEOUT, verbosity: 1,
    systemd: false, proxy: false, proxyFrom: [], perIp: 0, tls: false, inline: false, metrics: undefined,
  };
}

function applyFlag(o: ServeOptions, flag: string, env: Record<string, string | undefined>): void {
  switch (flag) {
    case "d": o.delay = true; break;
    case "D": o.delay = false; break;
    case "v": o.verbosity = 2; break;
    case "q": o.verbosity = 0; break;
    case "Q": o.verbosity = 1; break;
    case "h": o.remoteHost = true; break;
    case "H": o.remoteHost = false; break;
    case "r": o.remoteInfo = true; break;
    case "R": o.remoteInfo = false; break;
    case "1": o.printPort = true; break;
    case "X": o.allowMissingRules = true; break;
    case "p": o.paranoid = true; break;
    case "P": o.paranoid = false; break;
    case "o": o.killIpOptions = false; break;
    case "O": o.killIpOptions = true; break;
    case "U":
      if (env.UID !== undefined) o.uid = scanUlong(env.UID).value;
      if (env.GID !== undefined) o.gid = scanUlong(env.GID).value;
      break;
  }
}

/** The largest uid or gid (uid_t is 32 bits, and (uid_t)-1 is no id), declared with the switch itself. */
export { MAX_ID };

/**
 * -u and -g take numbers. tcpserver reads "-u nobody" as uid 0 and runs the program as root
 * without a word; serve refuses a value that is not all digits instead.
 */
function idComplaint(flag: string, value: string): string | undefined {
  const what = flag === "u" ? "uid" : "gid";
  if (value !== "" && scanUlong(value).used === value.length) {
    if (BigInt(value) <= BigInt(MAX_ID)) return undefined;
    return `fatal: -${flag} takes a numeric ${what} from 0 to ${MAX_ID}, not '${value}' (tcpserver would cut it to 32 bits: ${BigInt.asUintN(32, BigInt(value))})`;
  }
  const read = scanUlong(value).value;
  const quirk = read !== 0 ? `read it as ${read}` : flag === "u" ? "run the program as root" : "keep root's group";
  return `fatal: -${flag} takes a numeric ${what}, not '${value}' (tcpserver would ${quirk}); envuidgid or -U gives numbers for a name`;
}

/**
 * -c takes a positive number. tcpserver reads "-c abc" or "-c 0" as a limit of 0 and then
 * waits forever, serving no one and saying nothing (a typo in env/CONCURRENCY does it).
 */
function limitComplaint(value: string): string | undefined {
  const scanned = scanUlong(value);
  if (value !== "" && scanned.used === value.length && scanned.value > 0) return undefined;
  return `fatal: -c takes the number of simultaneous connections, 1 or more, not '${value}' (tcpserver would read it as ${scanned.value} and ${scanned.value === 0 ? "serve no one" : `allow ${scanned.value}`})`;
}

/** Applies an option's value; returns a usage complaint when the value cannot be taken. */
function applyValue(o: ServeOptions, flag: string, value: string): string | undefined {
  if (flag === "u" || flag === "g") {
    const complaint = idComplaint(flag, value);
    if (complaint !== undefined) return complaint;
  }
  if (flag === "c") {
    const complaint = limitComplaint(value);
    if (complaint !== undefined) return complaint;
  }
  switch (flag) {
    case "x": o.rulesPath = value; break;
    case "t": o.timeout = scanUlong(value).value; break;
    case "u": o.uid = scanUlong(value).value; break;
    case "g": o.gid = scanUlong(value).value; break;
    case "l": o.localName = value; break;
    case "b": o.backlog = scanUlong(value).value; break;
    case "B": o.banner = value; break;
    case "c": o.limit = scanUlong(value).value; break;
    case "proxy-from": o.proxyFrom.push(...value.split(",").filter((s) => s !== "")); break;
    case "per-ip": o.perIp = scanUlong(value).value; break;
    case "metrics": o.metrics = value; break;
  }
}

/** Parses tcpserver's arguments (without the program name); `env` supplies $UID/$GID for -U. */
export function parseServeArgs(args: readonly string[], env: Record<string, string | undefined>): ParseResult {
  const o = defaults();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") { i++; break; }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      if (LONG_FLAGS.has(name) && eq < 0) {
        if (name === "systemd") o.systemd = true;
        if (name === "proxy") o.proxy = true;
        if (name === "tls") o.tls = true;
        if (name === "inline") o.inline = true;
        continue;
      }
      if (LONG_WITH_ARGUMENT.has(name)) {
        const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
        if (value === undefined) return { kind: "usage", complaint: `option requires an argument -- ${name}`, silent: false };
        const complaint = applyValue(o, name, value);
        if (complaint !== undefined) return { kind: "usage", complaint, silent: false };
        continue;
      }
      return { kind: "usage", complaint: `illegal option -- ${arg.slice(2) || "-"}`, silent: false };
    }
    if (!arg.startsWith("-") || arg === "-") break;
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j];
      if (FLAGS.includes(flag)) { applyFlag(o, flag, env); continue; }
      if (!WITH_ARGUMENT.includes(flag)) return { kind: "usage", complaint: `illegal option -- ${flag}`, silent: false };
      const rest = arg.slice(j + 1);
      const value = rest !== "" ? rest : args[++i];
      if (value === undefined) return { kind: "usage", complaint: `option requires an argument -- ${flag}`, silent: false };
      const complaint = applyValue(o, flag, value);
      if (complaint !== undefined) return { kind: "usage", complaint, silent: false };
      break;
    }
  }
  const rest = args.slice(i);
  const silent = o.verbosity === 0;
  if (o.systemd) {
    if (rest.length < 1) return { kind: "usage", silent };
    o.program = rest;
  } else {
    if (rest.length < 3) return { kind: "usage", silent };
    [o.host, o.port] = rest;
    o.program = rest.slice(2);
  }
  if (o.proxy && o.proxyFrom.length === 0 && o.rulesPath === undefined) {
    return { kind: "usage", complaint: "--proxy needs --proxy-from or -x to say which peers may send the header", silent: false };
  }
  return { kind: "ok", options: o };
}

/** tcpserver's usage text after "usage: ", with the name it was called by. */
export function usageText(name: string): string {
  return `${name} [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program`;
}

/**
 * Qpopper's configuration-file syntax:
 *
 *     # a comment
 *     set clear-text-password = tls
 *     set shy                      # a boolean, set to true
 *     reset statistics             # a boolean, set to false
 *     set log-login = "%0 from %2" # quotes keep spaces and #
 *     set config-file = /etc/poppin/more.conf
 *
 * `config-file` chains to another file, read at that point (bounded depth, no loops).
 * Every error names the file and the line.
 */
import { readFileSync } from "node:fs";
import { PermError, describeSysError } from "../base/errors.ts";
import { checkValue, optionSpec } from "./options.ts";

/** Chained config files deeper than this are refused (Qpopper allows a few levels too). */
export const MAX_CONFIG_DEPTH = 8;
/** Bigger files are refused: a config file is a few hundred lines. */
export const MAX_CONFIG_OCTETS = 1 << 20;

export type Settings = Map<string, string>;
/** Where each setting came from ("FILE line N"), for `poppin config`. */
export type Origins = Map<string, string>;

const REMOVE = "remove the line";
/**
 * Qpopper options a qpopper.config carries that are not configuration-file options here: what
 * to do instead, said after "unknown option" so a migrated file's error tells the way.
 */
const QPOPPER_ONLY: Readonly<Record<string, string>> = {
  "tls-support": `STLS is offered whenever a certificate is set (tls-server-cert-file), and implicit TLS (Qpopper's alternate-port) is serve --tls: ${REMOVE}`,
  "spool-dir": `give pop3d --spool-dir=DIR in the chain instead and ${REMOVE}`,
  "hash-spool": `give pop3d --hash-spool=N in the chain instead and ${REMOVE}`,
  "home-dir-mail": `give pop3d --home-dir-mail=NAME in the chain instead and ${REMOVE}`,
  "temp-dir": `give pop3d --temp-dir=DIR in the chain instead and ${REMOVE}`,
  "fast-update": `pop3d's --update=rename is Qpopper's fast-update: give it in the chain and ${REMOVE}`,
  "update-status-headers": `pop3d writes Status: headers unless given --no-status-update: ${REMOVE}`,
  "server-mode": `pop3d always works in server mode (the spool is locked only while read and rewritten): ${REMOVE}`,
  "reverse-lookup": `serve decides host-name lookups (-H: none, -h: TCPREMOTEHOST): ${REMOVE}`,
  "user-server-mode": `pop3d always works in server mode (the spool is locked only while read and rewritten): ${REMOVE}`,
  "bulldir": `it is called bulletins here (set bulletins = DIR): rename it`,
  "cache-dir": `pop3d keeps its scan cache in --temp-dir: give that in the chain and ${REMOVE}`,
  "uw-kludge": `pop3d never lists UW IMAP's FOLDER INTERNAL DATA message: ${REMOVE}`,
  "group-bulletins": `a group bulletin is a file named NUMBER.GROUP.name in the bulletins directory: ${REMOVE}`,
  "old-style-uid": `pop3d takes a message's X-UIDL header as its UIDL and otherwise computes its own, not Qpopper's: ${REMOVE}`,
  "mmdf-separator": `pop3d reads mbox spools (From_ lines), not MMDF: ${REMOVE}`,
  "log-facility": `poppin's programs log to stderr, where the run script's logger (multilog, the journal, logger) takes it: ${REMOVE}`,
  "syslog-facility": `poppin's programs log to stderr, where the run script's logger (multilog, the journal, logger) takes it: ${REMOVE}`,
  "debug": `pop3d logs one line per session and per problem to stderr; there is no debug trace: ${REMOVE}`,
  "trace-file": `pop3d logs one line per session and per problem to stderr; there is no trace file: ${REMOVE}`,
  "kerberos": `Kerberos logins are not offered (USER/PASS, APOP, SASL PLAIN, SCRAM, OAUTHBEARER are): ${REMOVE}`,
  "chunky-writes": `pop3d always gathers its answers into large writes: ${REMOVE}`,
};

function fail(file: string, line: number, why: string): never {
  throw new PermError(`${file} line ${line}: ${why}`);
}

/** Splits `rest` into words: quoted strings keep spaces and `#`; an unquoted `#` starts a comment. */
function words(text: string, file: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\r") { i++; continue; }
    if (c === "#") break;
    if (c === "=") { out.push("="); i++; continue; }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) fail(file, line, "unterminated quoted string");
      out.push(text.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !" \t\r=#\"".includes(text[j]!)) j++;
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

/** Applies one file's lines to `into`, following config-file chains; `origins` learns each setting's file and line. */
export function readConfigFile(file: string, into: Settings = new Map(), depth = 0, seen: Set<string> = new Set(), origins?: Origins): Settings {
  if (depth >= MAX_CONFIG_DEPTH) throw new PermError(`${file}: config-file chain deeper than ${MAX_CONFIG_DEPTH}`);
  if (seen.has(file)) throw new PermError(`${file}: config-file loop`);
  seen.add(file);
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_CONFIG_OCTETS) throw new PermError(`${file}: larger than ${MAX_CONFIG_OCTETS} octets`);
    text = bytes.toString("latin1");
  } catch (e) {
    if (e instanceof PermError) throw e;
    throw new PermError(`unable to read config file ${file}: ${describeSysError(e)}`);
  }
  text.split("\n").forEach((raw, index) => applyLine(raw, file, index + 1, into, depth, seen, origins));
  seen.delete(file);
  return into;
}

function applyLine(raw: string, file: string, line: number, into: Settings, depth: number, seen: Set<string>, origins: Origins | undefined): void {
  const w = words(raw, file, line);
  if (w.length === 0) return;
  const verb = w[0]!.toLowerCase();
  if (verb !== "set" && verb !== "reset") fail(file, line, `expected set or reset, not ${JSON.stringify(w[0])}`);
  const name = (w[1] ?? "").toLowerCase();
  if (name === "") fail(file, line, `${verb} needs an option name`);
  const spec = optionSpec(name);
  if (spec === undefined) {
    const instead = Object.hasOwn(QPOPPER_ONLY, name) ? `: Qpopper's option; ${QPOPPER_ONLY[name]}` : "";
    fail(file, line, `unknown option ${JSON.stringify(w[1])}${instead}`);
  }
  let value: string;
  if (verb === "reset") {
    if (w.length !== 2) fail(file, line, `reset takes only an option name`);
    if (spec.kind !== "bool") fail(file, line, `reset: ${name} is not a boolean option`);
    value = "0";
  } else if (w.length === 2) {
    if (spec.kind !== "bool") fail(file, line, `${name} needs a value (set ${name} = VALUE)`);
    value = "1";
  } else {
    const hasEq = w[2] === "=";
    const rest = w.slice(hasEq ? 3 : 2);
    if (rest.length !== 1) fail(file, line, rest.length === 0 ? `${name} needs a value after =` : `${name}: one value expected (quote values with spaces)`);
    value = rest[0]!;
  }
  const checked = checkValue(spec, value);
  if ("error" in checked) fail(file, line, checked.error);
  if (name === "config-file") {
    readConfigFile(checked.value, into, depth + 1, seen, origins);
    return;
  }
  into.set(name, checked.value);
  origins?.set(name, `${file} line ${line}`);
}

/**
 * The proxy's route table (Perdition's popmap, Dovecot's director in a file): text lines
 *   LOGIN:HOST:PORT                   this login (lower-cased) goes to that backend
 *   *:HOST:PORT[,HOST:PORT...]        everyone else, placed by rendezvous hashing
 * compiled into a cdb (keys `=login` and `*`), looked up once per login. Rendezvous
 * (highest random weight) hashing scores every backend for a login and takes the best:
 * adding a backend moves only the logins it now wins, about 1/N of them, and no others.
 */
import { PermError } from "../base/errors.ts";
import type { ByteSource } from "../cdb/byte_source.ts";
import { statSync } from "node:fs";
import { CdbReader } from "../cdb/reader.ts";
import { CdbWriter } from "../cdb/writer.ts";
import { ruleLines } from "../rules/compile.ts";
import { nodeCrypto, nodeNet } from "../sys/builtins.ts";

/** A POP3 login is at most a command argument (RFC 2449: 255-octet commands). */
export const MAX_ROUTE_LOGIN = 255;
/** Backends in one `*` line: enough for any tier, small enough to score per login. */
export const MAX_DEFAULT_BACKENDS = 1024;

export interface Backend {
  host: string;
  port: number;
}

export type Route =
  | { kind: "exact"; backend: Backend }
  | { kind: "hashed"; backend: Backend; backends: number };

export class RoutesParseError extends PermError {
  readonly lineNumber: number;
  constructor(line: string, lineNumber: number, why: string) {
    super(`unable to parse this line: ${line} (line ${lineNumber}: ${why})`);
    this.lineNumber = lineNumber;
  }
}

const DEFAULT_KEY = new Uint8Array([0x2a]); // "*"

/** ASCII lower case only: logins are bytes, and a locale must not change where a user goes. */
export function routeLogin(login: Uint8Array): Uint8Array {
  const out = new Uint8Array(login.length);
  for (let i = 0; i < login.length; i++) {
    const c = login[i]!;
    out[i] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
  }
  return out;
}

function exactKey(login: Uint8Array): Uint8Array {
  const key = new Uint8Array(login.length + 1);
  key[0] = 0x3d; // "="
  key.set(login, 1);
  return key;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

/** `HOST:PORT` or `[IPv6]:PORT`; a string says what is wrong. */
export function parseBackend(text: string): Backend | string {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return `backend ${text} is not HOST:PORT`;
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) {
    host = host.slice(1, -1);
    if (nodeNet().isIP(host) !== 6) return `${host} is not an IPv6 address`;
  } else if (nodeNet().isIP(host) === 0 && !HOSTNAME.test(host)) {
    return `${host} is not a host name or address`;
  }
  if (!/^[1-9][0-9]{0,4}$/.test(portText) || Number(portText) > 65535) return `port ${portText} is not 1-65535`;
  return { host, port: Number(portText) };
}

export function formatBackend(b: Backend): string {
  return b.host.includes(":") ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
}

interface ParsedLine {
  login: string | undefined; // undefined: the `*` line
  backends: Backend[];
}

/** One line without its newline; null for blank lines and `#` comments. */
function parseRouteLine(raw: Uint8Array, lineNumber: number): ParsedLine | null {
  let end = raw.length;
  if (end > 0 && raw[end - 1] === 0x0a) end--;
  if (end > 0 && raw[end - 1] === 0x0d) end--;
  const text = Buffer.from(raw.subarray(0, end)).toString("latin1");
  const fail = (why: string) => new RoutesParseError(text, lineNumber, why);
  if (text.trim() === "" || text.startsWith("#")) return null;
  const colon = text.indexOf(":");
  if (colon < 0) throw fail("no colon: expected LOGIN:HOST:PORT or *:HOST:PORT[,HOST:PORT...]");
  const login = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (login === "") throw fail("empty login");
  if (login.length > MAX_ROUTE_LOGIN) throw fail(`login longer than ${MAX_ROUTE_LOGIN} octets`);
  if (/[\x00-\x20\x7f]/.test(login)) throw fail("login contains a space or control character");
  const parts = rest.split(",");
  if (login !== "*" && parts.length > 1) throw fail("a login has exactly one backend (lists are for the * line)");
  if (parts.length > MAX_DEFAULT_BACKENDS) throw fail(`more than ${MAX_DEFAULT_BACKENDS} backends`);
  const backends: Backend[] = [];
  const seen = new Set<string>();
  for (const part of parts) {
    const b = parseBackend(part);
    if (typeof b === "string") throw fail(b);
    const name = formatBackend(b);
    if (seen.has(name)) throw fail(`backend ${name} listed twice`);
    seen.add(name);
    backends.push(b);
  }
  return { login: login === "*" ? undefined : login, backends };
}

/** Adds the routes of `lines` to `writer`; returns the number of records. Throws RoutesParseError. */
export function compileRoutes(lines: Iterable<Uint8Array>, writer: CdbWriter): number {
  let lineNumber = 0;
  const exact = new Map<string, number>();
  let defaultLine: number | undefined;
  for (const raw of lines) {
    lineNumber++;
    const parsed = parseRouteLine(raw, lineNumber);
    if (parsed === null) continue;
    const data = Buffer.from(parsed.backends.map(formatBackend).join(","), "latin1");
    if (parsed.login === undefined) {
      if (defaultLine !== undefined) {
        throw new RoutesParseError(Buffer.from(raw).toString("latin1").trimEnd(), lineNumber, `a second * line (the first is line ${defaultLine})`);
      }
      defaultLine = lineNumber;
      writer.add(DEFAULT_KEY, data);
      continue;
    }
    const login = routeLogin(Buffer.from(parsed.login, "latin1"));
    const name = Buffer.from(login).toString("latin1");
    const first = exact.get(name);
    if (first !== undefined) {
      throw new RoutesParseError(Buffer.from(raw).toString("latin1").trimEnd(), lineNumber, `login ${name} already routed on line ${first}`);
    }
    exact.set(name, lineNumber);
    writer.add(exactKey(login), data);
  }
  return writer.recordCount;
}

/** routes compile: from `source` into `tmpPath`, renamed over `cdbPath`; on error the old cdb stays. */
export function compileRoutesFile(source: ByteSource, cdbPath: string, tmpPath: string): number {
  const writer = CdbWriter.create(tmpPath, cdbPath);
  try {
    const records = compileRoutes(ruleLines(source), writer);
    writer.commit(cdbPath);
    return records;
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** The rendezvous score of `backend` for `login`: 48 bits of SHA-256(backend NUL login). */
export function rendezvousScore(backend: string, login: Uint8Array): number {
  const digest = nodeCrypto().createHash("sha256").update(backend, "latin1").update(new Uint8Array([0])).update(login).digest();
  return digest.readUIntBE(0, 6);
}

/** The backend of `login` among `backends` (the first listed wins a tie). */
export function rendezvousPick(backends: readonly Backend[], login: Uint8Array): Backend {
  if (backends.length === 1) return backends[0]!; // the only candidate wins whatever its score
  let best = backends[0]!;
  let bestScore = -1;
  for (const b of backends) {
    const score = rendezvousScore(formatBackend(b), login);
    if (score > bestScore) {
      best = b;
      bestScore = score;
    }
  }
  return best;
}

function parseStored(data: Uint8Array): Backend[] {
  const out: Backend[] = [];
  for (const part of Buffer.from(data).toString("latin1").split(",")) {
    const b = parseBackend(part);
    if (typeof b === "string") throw new PermError(`route table holds a bad backend: ${b}`);
    out.push(b);
  }
  return out;
}

/** The `*` line's backends, or null when the table has none. */
function defaultBackends(reader: CdbReader): Backend[] | null {
  const list = reader.find(DEFAULT_KEY);
  return list === null ? null : parseStored(list);
}

/**
 * The route of `login` (any case), or undefined when the table has none for it. `defaults`:
 * the `*` line's backends when the caller already read them from this reader.
 */
export function findRoute(reader: CdbReader, login: Uint8Array, defaults?: Backend[] | null): Route | undefined {
  const key = routeLogin(login);
  const exact = reader.find(exactKey(key));
  if (exact !== null) return { kind: "exact", backend: parseStored(exact)[0]! };
  const backends = defaults === undefined ? defaultBackends(reader) : defaults;
  if (backends === null) return undefined;
  return { kind: "hashed", backend: rendezvousPick(backends, key), backends: backends.length };
}

/**
 * The route table a long-running proxy (serve --inline) consults: kept open, and opened
 * again when the file at `path` is a new one (routes compile renames a new cdb over it),
 * so a route change takes effect at the next login without a restart.
 */
export class RouteTable {
  #reader: CdbReader | undefined;
  /** The `*` line of the open table, parsed once per table rather than once per login. */
  #defaults: Backend[] | null | Error = null;
  #identity = "";

  constructor(readonly path: string) {}

  /** Throws (TempError, a system error) when the table cannot be read. */
  find(login: Uint8Array): Route | undefined {
    const st = statSync(this.path);
    const identity = `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
    if (this.#reader === undefined || identity !== this.#identity) {
      this.#reader?.close();
      this.#reader = undefined;
      this.#reader = CdbReader.open(this.path);
      this.#identity = identity;
      try {
        this.#defaults = defaultBackends(this.#reader);
      } catch (err) {
        this.#defaults = err instanceof Error ? err : new Error(String(err)); // thrown by the logins that need it, as before
      }
    }
    const defaults = this.#defaults;
    if (defaults instanceof Error) return findRoute(this.#reader, login); // rereads and throws for a hashed login only
    return findRoute(this.#reader, login, defaults);
  }

  close(): void {
    this.#reader?.close();
    this.#reader = undefined;
  }
}

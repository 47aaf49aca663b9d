/**
 * Host names for TCPLOCALHOST and TCPREMOTEHOST through the system resolver, bounded in time
 * and in number. With -p (paranoid) the name counts only if it resolves back to the address,
 * as tcpserver checks.
 *
 * The name is getnameinfo's (dns.lookupService): the address's canonical name, as
 * `getent hosts IP` prints it and as DNS's PTR record gives it to tcpserver. Bun's
 * dns.reverse answers an address that /etc/hosts names with that line's aliases only
 * (`192.0.2.10 mail.example.org mail` gives `mail`), which would break `=mail.example.org`
 * rules.
 *
 * Every lookup must stay off Bun's thread pool: its getaddrinfo runs there on a few threads
 * (cpus / 2), so lookups that hang (a client controls the reverse zone of its address, and so
 * the name the paranoid check looks up) would queue every later lookup behind them for minutes,
 * long after serve gave up on them. lookupService and Bun.dns.lookup with c-ares wait on the
 * event loop; Bun hands `*.local` names to getaddrinfo whatever backend is asked for, so those
 * are asked of DNS alone (tcpserver asks DNS alone for every name).
 *
 * A lookup serve gave up on goes on in the resolver until its own timeouts end it (about 20 s
 * with resolv.conf's defaults): it still counts against NAME_LOOKUPS_MAX until then.
 */
import { nodeDns } from "../sys/builtins.ts";

/** How long one name lookup may take before serve goes on without the name (tcpserver's djbdns gives up after 60 s). */
export const NAME_LOOKUP_TIMEOUT_MS = 5_000;

/**
 * Lookups in flight at most, those given up on included: beyond, connections go on without
 * names at once. Lookups that answer take milliseconds, so only a resolver that does not
 * answer (or clients whose reverse zones hang) fills this; each costs about 2 KB.
 */
export const NAME_LOOKUPS_MAX = 1_024;

const encoder = new TextEncoder();

/**
 * A name as the resolver writes it (RFC 1035 presentation text: `\DDD` decimal and `\X` escapes,
 * a bare `.` between labels) in djbdns's text, as tcpserver sets TCPREMOTEHOST: letters in lower
 * case, every byte but a-z, 0-9, `-` and `_` as `\ooo` octal (`sp\040ace.example`), so the
 * client's reverse zone cannot put a space, a colon or a newline in the value, and
 * `=mail.example.org` rules match a PTR of `MAIL.Example.ORG` as they do under tcpserver.
 */
export function djbdnsName(name: string): string {
  const labels: number[][] = [[]];
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === ".") {
      labels.push([]);
    } else if (c === "\\" && /^[0-9]{3}$/.test(name.slice(i + 1, i + 4))) {
      labels[labels.length - 1].push(Number(name.slice(i + 1, i + 4)) & 0xff);
      i += 3;
    } else {
      if (c === "\\" && i + 1 < name.length) i++;
      for (const byte of encoder.encode(name[i])) labels[labels.length - 1].push(byte);
    }
  }
  if (labels.length > 1 && labels[labels.length - 1].length === 0) labels.pop();
  return labels.map((label) => label.map((byte) => {
    const lower = byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte;
    const plain = (lower >= 0x61 && lower <= 0x7a) || (lower >= 0x30 && lower <= 0x39) || lower === 0x2d || lower === 0x5f;
    return plain ? String.fromCharCode(lower) : `\\${lower.toString(8).padStart(3, "0")}`;
  }).join("")).join(".");
}

/** What answers name questions (the system's resolver; tests give their own). */
export interface NameResolver {
  /** getnameinfo's name for `ip` (the address itself when it has none). */
  nameOf(ip: string): Promise<string>;
  /** Every address `name` has. */
  addressesOf(name: string): Promise<string[]>;
}

/** mDNS names (RFC 6762), which Bun's lookup sends to getaddrinfo whatever the backend. */
function multicastName(name: string): boolean {
  return /\.local\.?$/i.test(name);
}

async function dnsAddresses(name: string): Promise<string[]> {
  const resolver = new (nodeDns().Resolver)();
  const found = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  return found.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
}

export const systemResolver: NameResolver = {
  nameOf: async (ip) => (await nodeDns().lookupService(ip, 0)).hostname,
  addressesOf: async (name) => {
    if (multicastName(name)) return dnsAddresses(name);
    return (await Bun.dns.lookup(name, { backend: "c-ares" })).map((a) => a.address);
  },
};

export interface NameLookupOptions {
  resolver?: NameResolver;
  /** NAME_LOOKUP_TIMEOUT_MS. */
  waitMs?: number;
  /** NAME_LOOKUPS_MAX. */
  max?: number;
  /** Called once when the lookups in flight reach `max` (again after they fell to half of it). */
  full?: (max: number) => void;
}

/** One server's name lookups: each bounded to `waitMs`, at most `max` in flight. */
export class NameLookups {
  readonly #resolver: NameResolver;
  readonly #waitMs: number;
  readonly #max: number;
  readonly #full: ((max: number) => void) | undefined;
  #inFlight = 0;
  #warned = false;

  constructor(o: NameLookupOptions = {}) {
    this.#resolver = o.resolver ?? systemResolver;
    this.#waitMs = o.waitMs ?? NAME_LOOKUP_TIMEOUT_MS;
    this.#max = o.max ?? NAME_LOOKUPS_MAX;
    this.#full = o.full;
  }

  /** Lookups started and not yet ended by the resolver (given up on or not). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** `start()`'s answer within the wait; undefined after it, on failure, or with no room. */
  #bounded<T>(start: () => Promise<T>): Promise<T | undefined> {
    if (this.#inFlight >= this.#max) {
      if (!this.#warned) {
        this.#warned = true;
        this.#full?.(this.#max);
      }
      return Promise.resolve(undefined);
    }
    this.#inFlight++;
    let work: Promise<T>;
    try {
      work = start();
    } catch (err) {
      work = Promise.reject(err);
    }
    const ended = () => {
      this.#inFlight--;
      if (this.#inFlight <= this.#max / 2) this.#warned = false;
    };
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), this.#waitMs);
      work.then(
        (value) => { ended(); clearTimeout(timer); resolve(value); },
        () => { ended(); clearTimeout(timer); resolve(undefined); },
      );
    });
  }

  /** The canonical name of `ip`, or undefined when it has none (or none in time). */
  async hostName(ip: string): Promise<string | undefined> {
    const name = await this.#resolverName(ip);
    return name === undefined ? undefined : djbdnsName(name);
  }

  /** The name as the resolver gave it (the paranoid check looks that up). */
  async #resolverName(ip: string): Promise<string | undefined> {
    const name = await this.#bounded(() => this.#resolver.nameOf(ip));
    // getnameinfo without NI_NAMEREQD answers the address itself when it has no name.
    return name === undefined || name === "" || name === ip ? undefined : name;
  }

  /** The client's name for TCPREMOTEHOST; with `paranoid`, only if the name's addresses include `ip`. */
  async remoteHostName(ip: string, paranoid: boolean): Promise<string | undefined> {
    const name = await this.#resolverName(ip);
    if (name === undefined) return undefined;
    if (!paranoid) return djbdnsName(name);
    const addresses = await this.#bounded(() => this.#resolver.addressesOf(name));
    return addresses?.includes(ip) ? djbdnsName(name) : undefined;
  }
}

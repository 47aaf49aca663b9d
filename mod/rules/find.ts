import type { CdbReader } from "../cdb/reader.ts";

export interface RuleMatch {
  /** The key that matched (the "rule NAME:" of tcprulescheck); "" for the default rule. */
  key: Uint8Array;
  data: Uint8Array;
}

const encoder = new TextEncoder();

/**
 * The candidate keys in the order ucspi-tcp's rules.c tries them: info@ip, info@=host, ip,
 * =host, ip truncated after each '.' (and ':' for IPv6, as ucspi-tcp-ipv6) from longest to
 * shortest, =host-suffix starting at each '.', "=" (any named host), and "" (the default).
 * A generator, so the search stops at the first hit without building every key.
 */
export function* ruleCandidates(ip: string, host?: string, info?: string): Generator<string> {
  if (info !== undefined) {
    yield `${info}@${ip}`;
    if (host !== undefined) yield `${info}@=${host}`;
  }
  yield ip;
  if (host !== undefined) yield `=${host}`;
  for (let len = ip.length; len > 0; len--) {
    const ch = ip[len - 1];
    if (ch === "." || ch === ":") yield ip.slice(0, len);
  }
  if (host !== undefined) {
    for (let i = 0; i < host.length; i++) if (host[i] === ".") yield `=${host.slice(i)}`;
    yield "=";
  }
  yield "";
}

/** First rule that applies to a connection, or null when not even a default rule exists. */
export function rulesFind(reader: CdbReader, ip: string, host?: string, info?: string): RuleMatch | null {
  for (const candidate of ruleCandidates(ip, host, info)) {
    const key = encoder.encode(candidate);
    const data = reader.find(key);
    if (data !== null) return { key, data };
  }
  return null;
}

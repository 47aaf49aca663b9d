/**
 * The SASL mechanisms beyond PLAIN that POP3 AUTH (RFC 5034) can start, and which of
 * them are offered now. PLAIN stays in mod/pop3 (it is a clear-text password); these
 * prove the user without sending one. One table serves CAPA, the bare AUTH listing and
 * AUTH itself, so the list cannot offer what AUTH refuses.
 */
import { CHANNEL_BINDING_TYPES, SCRAM_MECHANISMS, type ChannelBindingType } from "./scram.ts";
import type { ScramKeys } from "./scram_keys.ts";
import { ScramExchange, type SaslStep } from "./scram_server.ts";
import { BEARER_MECHANISMS, type BearerMechanism } from "./bearer_names.ts";
import type { ScramHash } from "./scram.ts";

export type { SaslStep } from "./scram_server.ts";

/** What the host gives the mechanisms of one connection. */
export interface SaslHost {
  /** The stored SCRAM keys: present only where a user database is in use (system accounts have none). */
  scramKeys?(user: string, hash: ScramHash): ScramKeys | undefined;
  /** Channel-binding data of the TLS connection now (undefined on plain text). */
  channelBinding?(type: ChannelBindingType): Uint8Array | undefined;
  /** The fd-3 timestamp of this connection. */
  timestamp: string;
  /**
   * Bearer tokens are accepted (OAuth is configured for checkpassword): starts an OAUTHBEARER
   * or XOAUTH2 exchange (oauthbearer.ts's bearerExchange, which the host loads only then).
   */
  bearer?: (mechanism: BearerMechanism) => SaslExchange;
  /** popup's checks before a login, run before a SCRAM exchange reveals anything (scram_server.ts). */
  admit?(user: string): { user: string } | { refused: string; temporary?: boolean };
}

/** One running exchange: the handler feeds it each decoded client response. */
export interface SaslExchange {
  readonly mechanism: string;
  step(response: Uint8Array): SaslStep;
}

function plusAvailable(host: SaslHost, tls: boolean): boolean {
  return tls && CHANNEL_BINDING_TYPES.some((type) => host.channelBinding?.(type) !== undefined);
}

/**
 * The mechanisms (besides PLAIN) offered now, strongest first. A bearer token is a
 * credential sent in clear like a password: offered only where clear-text passwords are.
 */
export function offeredMechanisms(host: SaslHost | undefined, tls: boolean, clearText = true): string[] {
  const names: string[] = [];
  if (host?.scramKeys !== undefined) {
    const plus = plusAvailable(host, tls);
    for (const name of SCRAM_MECHANISMS.keys()) {
      if (plus) names.push(`${name}-PLUS`);
      names.push(name);
    }
  }
  if (host?.bearer !== undefined && clearText) names.push(...BEARER_MECHANISMS);
  return names;
}

/** Starts `name` (upper case), or undefined when it is not offered now. */
export function startExchange(name: string, host: SaslHost | undefined, tls: boolean, clearText = true): SaslExchange | undefined {
  if (host === undefined || !offeredMechanisms(host, tls, clearText).includes(name)) return undefined;
  if ((BEARER_MECHANISMS as readonly string[]).includes(name)) return host.bearer?.(name as BearerMechanism);
  const lookup = host.scramKeys;
  if (lookup === undefined) return undefined;
  const plus = name.endsWith("-PLUS");
  const hash = SCRAM_MECHANISMS.get(plus ? name.slice(0, -5) : name);
  if (hash === undefined) return undefined;
  return new ScramExchange(name, hash, plus, {
    keys: (user, h) => lookup(user, h),
    channelBinding: host.channelBinding,
    timestamp: host.timestamp,
    plusOffered: plusAvailable(host, tls),
    admit: host.admit,
  });
}

/**
 * Drives an AUTHORIZATION session over a channel (qmail-popup's loop): greet,
 * answer USER/PASS/APOP/AUTH/STLS/NOOP/CAPA/QUIT, and after a login hand the
 * connection to the checkpassword chain through `authenticate`. The channel is read
 * line by line, byte-exactly, so commands the client pipelined after PASS reach that
 * chain. After STLS the driver swaps in the TLS channel `startTls` gives it and
 * forgets everything it had received before (RFC 2595 section 4).
 */
import { authenticationFailed, newAuthorizationState, offeredSaslNames, tlsStarted, type AuthFailure, type LoginPolicy } from "../pop3/authorization.ts";
import { ClientGone, ClientTimeout } from "../pop3/fd_channel.ts";
import { MAX_COMMAND_OCTETS } from "../pop3/limits.ts";
import { ok } from "../pop3/responses.ts";
import { authorizationSession } from "../pop3/session.ts";
import type { SaslHost } from "../sasl/mechanisms.ts";
import type { ChannelBindingType } from "../sasl/scram.ts";

/** How the chain run for one login ended. */
export type ChainResult = { kind: "served" } | { kind: "failed"; failure: AuthFailure; detail: string };

/** The client connection as popup uses it: the plain fds, or a TLS stream (whose calls are async). */
export interface PopupChannel {
  readToLineEnd(buf: Uint8Array): number | Promise<number>;
  write(bytes: Uint8Array): void | Promise<void>;
  /** Channel-binding data when the channel is TLS (for SCRAM-...-PLUS). */
  channelBinding?(type: ChannelBindingType): Uint8Array | undefined;
  /**
   * Drops what the client already sent and nothing has read yet (a channel that reads exactly
   * line by line leaves it in the kernel): plaintext pipelined after STLS. A channel that
   * buffers drops its buffer when TLS starts instead.
   */
  discardPending?(): void;
}

/** How a login was made, for the chain's environment (mod/sasl/login_env.ts). */
export interface LoginMeans {
  /** USER, APOP, PLAIN, SCRAM-SHA-256 ... */
  mechanism?: string;
  /** A bearer token for checkpassword (OAUTHBEARER, XOAUTH2), passed beside fd 3. */
  bearer?: string;
  /** The SASL mechanisms CAPA announced when the login came (pop3d's CAPA announces the same). */
  offered?: readonly string[];
}

/** A login to check before the chain runs: the user as sent (possibly rewritten by the policy). */
export interface LoginAttempt {
  user: Uint8Array;
  apop: boolean;
}

export interface PopupOptions {
  /** `<pid.time@host>`: passed on fd 3 always (as qmail-popup does) and offered in the greeting when `offerApop`. */
  timestamp: string;
  offerApop: boolean;
  /** What the login policy allows (clear-text passwords, STLS, CAPA extras). */
  policy?: LoginPolicy;
  /** The connection is TLS from the start (implicit TLS, port 995). */
  tls?: boolean;
  /** Runs the chain with `user\0password\0timestamp\0` on fd 3 and the connection (`channel`) as fds 0 and 1. */
  authenticate(data: Uint8Array, channel: PopupChannel, login?: LoginMeans): Promise<ChainResult>;
  /**
   * Policy checks before the chain (allowed users, failure limits); may rewrite the user
   * name (downcase, trim the domain). Returns the user to log in, or the reason to refuse
   * (answered exactly as a wrong password, so nobody learns whether the user exists).
   */
  admit?(attempt: LoginAttempt): { user: Uint8Array } | { refused: string; temporary?: boolean; address?: boolean };
  /**
   * The password check's work for a login `admit` refused (mod/auth/verify.ts decoyCheck), or
   * for a bearer login (`login.bearer`) the token check's (mod/auth/oauth.ts bearerDecoy), so a
   * refusal by the policy costs what checking the password or token would: timing must not tell
   * which users a list admits.
   */
  decoy?(password: Uint8Array, login?: LoginMeans): void | Promise<void>;
  /** After STLS: negotiates TLS on the connection and returns the encrypted channel (throws when it fails). */
  startTls?(): Promise<PopupChannel>;
  /**
   * Milliseconds from the login (PASS, APOP, the AUTH exchange's last line) to the answer
   * when it failed (Dovecot's auth_failure_delay). The time the check itself took counts:
   * a check that ran for 1.5 s of a 2 s delay is followed by a 0.5 s wait, so the client
   * waits one delay whether the refusal came from crypt, a slow checkpassword or a backend
   * behind the proxy that served its own delay already (see failureWaitMs).
   */
  failureDelayMs?: number;
  /** The clock the failure delay is measured with (milliseconds, monotonic); performance.now() by default. */
  now?(): number;
  /** How the failure delay is waited out; setTimeout by default. */
  sleep?(ms: number): Promise<void>;
  /** Told about each failed login (user as sent; never the password; the SASL mechanism if AUTH). */
  onFailure?(user: Uint8Array, failure: AuthFailure, detail: string, mechanism?: string): void;
  /** The SCRAM keys of the user database (offered only where one is in use): see mod/sasl. */
  scramKeys?: SaslHost["scramKeys"];
  /** OAuth is configured for checkpassword: OAUTHBEARER and XOAUTH2 are offered (with clear-text passwords) and started by this. */
  bearer?: SaslHost["bearer"];
}

const PLUS = 0x2b;
/** The logins that carry a password checked with crypt (the others prove the user another way). */
const PASSWORD_MECHANISMS = new Set(["USER", "APOP", "PLAIN", "LOGIN"]);

export type PopupEnd = "served" | "quit" | "eof" | "timeout" | "closed" | "tls-failed" | "tls-on-plain";

const TLS_HANDSHAKE_RECORD = 0x16;

/** `user\0password\0timestamp\0`, exactly qmail-popup's fd-3 data. */
export function checkpasswordData(user: Uint8Array, password: Uint8Array, timestamp: string): Uint8Array {
  const ts = Buffer.from(timestamp, "latin1");
  const data = new Uint8Array(user.length + password.length + ts.length + 3);
  data.set(user, 0);
  data.set(password, user.length + 1);
  data.set(ts, user.length + password.length + 2);
  return data;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * What is left of the failure delay once the check has taken `elapsedMs`: the client waits
 * max(delay, check) from its login to the -ERR, never delay + check. A backend that refuses
 * a login through the proxy sleeps its own delay before its -ERR; adding ours on top would
 * make every wrong password through the proxy cost two delays (Dovecot's login proxy
 * relays the backend's failure and adds none). A backend with a shorter delay, or none,
 * still gets the rest of ours, so going through the proxy never shortens it.
 */
export function failureWaitMs(delayMs: number, elapsedMs: number): number {
  return Math.max(0, delayMs - Math.max(0, elapsedMs));
}

export async function servePopup(first: PopupChannel, opts: PopupOptions): Promise<PopupEnd> {
  let channel = first;
  const now = opts.now ?? (() => performance.now());
  const sasl: SaslHost = {
    scramKeys: opts.scramKeys, bearer: opts.bearer, timestamp: opts.timestamp,
    channelBinding: (type) => channel.channelBinding?.(type),
    admit: opts.admit === undefined ? undefined : (user) => {
      const verdict = opts.admit!({ user: new Uint8Array(Buffer.from(user, "utf8")), apop: false });
      return "refused" in verdict ? verdict : { user: Buffer.from(verdict.user).toString("utf8") };
    },
  };
  const state = newAuthorizationState(opts.offerApop ? opts.timestamp : undefined, opts.policy, opts.tls ?? false, sasl);
  const session = authorizationSession(state);
  const input = new Uint8Array(MAX_COMMAND_OCTETS + 1);
  let firstRead = true;
  try {
    await channel.write(opts.offerApop ? ok(opts.timestamp) : ok());
    for (;;) {
      const outcome = session.next();
      if (outcome === undefined) {
        const n = await channel.readToLineEnd(input);
        if (n === 0) return "eof";
        // A TLS ClientHello (record type 22) on the plain port: drop it, do not answer garbage.
        if (!state.tls && firstRead && input[0] === TLS_HANDSHAKE_RECORD) return "tls-on-plain";
        firstRead = false;
        session.push(input.subarray(0, n));
        continue;
      }
      const action = outcome.action;
      // STLS: what the client sent before our +OK is plaintext it pipelined (RFC 2595 section 4),
      // dropped in every host before the handshake, which then starts from the client's hello.
      if (action?.kind === "starttls" && opts.startTls !== undefined) channel.discardPending?.();
      if (outcome.reply) await channel.write(outcome.reply);
      if (action?.kind === "starttls") {
        if (opts.startTls === undefined) return "closed";
        session.discardInput();
        try {
          channel = await opts.startTls();
        } catch {
          return "tls-failed";
        }
        tlsStarted(state);
        continue;
      }
      if (action?.kind === "authenticate") {
        const loginAt = now();
        const verdict = opts.admit?.({ user: action.user, apop: action.apop }) ?? { user: action.user };
        let result: ChainResult;
        if ("refused" in verdict) {
          // A password's refusal costs a crypt and a token's its check (not for an address over its
          // limit: that says nothing about the user, and would keep asking the issuer for it); a
          // SCRAM exchange did its work already.
          if (action.bearer !== undefined) {
            if (!verdict.address && !verdict.temporary) await opts.decoy?.(action.password, { mechanism: action.mechanism, bearer: action.bearer });
          } else if (action.mechanism === undefined || PASSWORD_MECHANISMS.has(action.mechanism)) await opts.decoy?.(action.password);
          result = { kind: "failed", failure: verdict.temporary ? "temporary" : "rejected", detail: verdict.refused };
        } else if (action.failed !== undefined) {
          result = { kind: "failed", ...action.failed };
        } else {
          const data = checkpasswordData(verdict.user, action.password, opts.timestamp);
          action.password.fill(0);
          result = await opts.authenticate(data, channel, { mechanism: action.mechanism, bearer: action.bearer, offered: offeredSaslNames(state) });
          data.fill(0);
        }
        action.password.fill(0);
        if (result.kind === "served") return "served";
        opts.onFailure?.(action.user, result.failure, result.detail, action.mechanism);
        if (result.failure === "rejected" && (opts.failureDelayMs ?? 0) > 0) {
          const wait = failureWaitMs(opts.failureDelayMs!, now() - loginAt);
          if (wait > 0) await (opts.sleep ?? sleep)(wait);
        }
        if (action.failureChallenge !== undefined && result.failure !== "crashed") {
          // RFC 7628 section 3.2.2: the error JSON as a challenge; the client answers (^A), then the -ERR.
          await channel.write(new TextEncoder().encode(`+ ${Buffer.from(action.failureChallenge).toString("base64")}\r\n`));
          while (!session.framer.hasLine) {
            const n = await channel.readToLineEnd(input);
            if (n === 0) return "eof";
            session.push(input.subarray(0, n));
          }
          session.framer.next();
        }
        const failed = session.apply(authenticationFailed(state, result.failure));
        if (failed.reply) await channel.write(failed.reply);
        if (failed.close) return "closed";
        continue;
      }
      // QUIT answers +OK; the other way to close here is too many bad commands.
      if (outcome.close) return outcome.reply?.[0] === PLUS ? "quit" : "closed";
    }
  } catch (e) {
    if (e instanceof ClientTimeout) return "timeout";
    if (e instanceof ClientGone) return "eof";
    throw e;
  }
}

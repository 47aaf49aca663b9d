/**
 * Drives an AUTHORIZATION session over an FdChannel (qmail-popup's loop): greet,
 * answer USER/PASS/APOP/NOOP/CAPA/QUIT, and after PASS or APOP hand the connection
 * to the checkpassword chain through `authenticate`. The channel is read line by
 * line, byte-exactly, so commands the client pipelined after PASS reach that chain.
 */
import { authenticationFailed, newAuthorizationState, type AuthFailure } from "./authorization.ts";
import { ClientGone, ClientTimeout, type Channel } from "./fd_channel.ts";
import { MAX_COMMAND_OCTETS } from "./limits.ts";
import { ok } from "./responses.ts";
import { authorizationSession } from "./session.ts";

/** How the chain run for one login ended. */
export type ChainResult = { kind: "served" } | { kind: "failed"; failure: AuthFailure; detail: string };

export interface PopupOptions {
  /** `<pid.time@host>`: passed on fd 3 always (as qmail-popup does) and offered in the greeting when `offerApop`. */
  timestamp: string;
  offerApop: boolean;
  /** Runs the chain with `user\0password\0timestamp\0` on fd 3 and the connection as fds 0 and 1. */
  authenticate(data: Uint8Array): Promise<ChainResult>;
  /** Told about each failed login (user as sent; never the password). */
  onFailure?(user: Uint8Array, failure: AuthFailure, detail: string): void;
}

const PLUS = 0x2b;

export type PopupEnd = "served" | "quit" | "eof" | "timeout" | "closed";

/** `user\0password\0timestamp\0`, exactly qmail-popup's fd-3 data. */
export function checkpasswordData(user: Uint8Array, password: Uint8Array, timestamp: string): Uint8Array {
  const ts = Buffer.from(timestamp, "latin1");
  const data = new Uint8Array(user.length + password.length + ts.length + 3);
  data.set(user, 0);
  data.set(password, user.length + 1);
  data.set(ts, user.length + password.length + 2);
  return data;
}

export async function servePopup(channel: Channel, opts: PopupOptions): Promise<PopupEnd> {
  const state = newAuthorizationState(opts.offerApop ? opts.timestamp : undefined);
  const session = authorizationSession(state);
  const input = new Uint8Array(MAX_COMMAND_OCTETS + 1);
  try {
    channel.write(opts.offerApop ? ok(opts.timestamp) : ok());
    for (;;) {
      const outcome = session.next();
      if (outcome === undefined) {
        const n = channel.readToLineEnd(input);
        if (n === 0) return "eof";
        session.push(input.subarray(0, n));
        continue;
      }
      if (outcome.reply) channel.write(outcome.reply);
      const action = outcome.action;
      if (action?.kind === "authenticate") {
        const data = checkpasswordData(action.user, action.password, opts.timestamp);
        action.password.fill(0);
        const result = await opts.authenticate(data);
        data.fill(0);
        if (result.kind === "served") return "served";
        opts.onFailure?.(action.user, result.failure, result.detail);
        const failed = session.apply(authenticationFailed(state, result.failure));
        if (failed.reply) channel.write(failed.reply);
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

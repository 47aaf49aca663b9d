/**
 * The TRANSACTION state served over a channel (qmail-pop3d's loop): greet, answer commands,
 * stream messages for RETR and TOP, run the UPDATE state at QUIT. Written once as a generator
 * that yields only when the channel returned a promise: a channel over blocking fds (pop3d)
 * never yields and the loop runs synchronously; one over a socket in an event loop
 * (serve --inline) yields to wait for the client. runSync and runAsync drive it.
 */
import { ClientGone, ClientTimeout, OutputBuffer, type Channel } from "../pop3/fd_channel.ts";
import { MESSAGE_READ_CHUNK, OUTPUT_CHUNK_OCTETS } from "../pop3/limits.ts";
import type { Mailbox } from "../pop3/mailbox.ts";
import { MessageEncoder } from "../pop3/message_encoder.ts";
import { messageChunk } from "../pop3/message_encoder_wasm.ts";
import { ok } from "../pop3/responses.ts";
import { transactionSession } from "../pop3/session.ts";
import { newTransactionState } from "../pop3/transaction.ts";
import { concludeAnswer, endWithoutQuit, newPop3dStats, type Pop3dServeOptions, type Pop3dStats } from "./_stats.ts";
import { MessageReadFailed, streamMessage, type MessageSink } from "./_stream_message.ts";

/** Output gathered before a write: large enough for many small messages, bounded per session. */
export const SESSION_OUTPUT_OCTETS = Math.max(OUTPUT_CHUNK_OCTETS, MessageEncoder.maxOutput(MESSAGE_READ_CHUNK) + 1024);

type Maybe<T> = T | Promise<T>;

/** The client connection as the TRANSACTION loop uses it; each call may answer at once or later. */
export interface TransactionChannel {
  /** Where answers and messages are gathered. */
  readonly out: MessageSink & { flush(): void };
  /** The buffer messages are read into (MESSAGE_READ_CHUNK octets). */
  readonly chunk: Uint8Array;
  /**
   * Sends what is gathered, then the client's next input (a line, or a piece of one); undefined
   * once the input ended or the connection is gone. May throw ClientTimeout or ClientGone.
   */
  next(): Maybe<Uint8Array | undefined>;
  /** After each piece of a message went into `out`: lets a slow client catch up; false once it is gone (the message stops, not retrieved). */
  piece?(): Maybe<boolean>;
  /** How the input ended when next() gave undefined. */
  ended(): "eof" | "timeout";
}

/** The loop; yields the channel's promises and takes their values back. */
export function* transactionLoop(channel: TransactionChannel, mailbox: Mailbox, opts: Pop3dServeOptions): Generator<Promise<unknown>, Pop3dStats, unknown> {
  const session = transactionSession(newTransactionState(mailbox.messages, opts));
  const stats = newPop3dStats(mailbox);
  const abort = (end: Pop3dStats["end"]): Pop3dStats => endWithoutQuit(end, session.state, mailbox, stats, opts);
  const out = channel.out;
  out.put(ok());
  try {
    for (;;) {
      const outcome = session.next();
      if (outcome === undefined) {
        let piece = channel.next();
        if (piece instanceof Promise) piece = (yield piece) as Uint8Array | undefined;
        if (piece === undefined) return abort(channel.ended());
        session.push(piece);
        continue;
      }
      if (outcome.reply) out.put(outcome.reply);
      const action = outcome.action;
      if (action?.kind === "retrieve") {
        const pieces = streamMessage(mailbox, action, out, channel.chunk, stats);
        let step = pieces.next();
        while (!step.done) {
          if (channel.piece !== undefined) {
            let more = channel.piece();
            if (more instanceof Promise) more = (yield more) as boolean;
            if (!more) {
              pieces.return(false);
              break;
            }
          }
          step = pieces.next();
        }
        // Auto-delete marks a message only once all of it went out (RETR, not TOP).
        if (step.done === true && step.value && action.bodyLines === undefined && opts.autoDelete) session.state.deleted[action.index] = 1;
      }
      if (concludeAnswer(outcome, out, mailbox, stats)) return stats;
    }
  } catch (e) {
    if (e instanceof ClientTimeout) return abort("timeout");
    if (e instanceof MessageReadFailed) {
      // What went before (earlier answers, the piece of this message) goes out; the terminator never does.
      stats.problems.push(e.problem);
      try {
        out.flush();
      } catch {
        // the client is gone too
      }
      return abort("read-error");
    }
    // Deletions after QUIT were done before the answer; otherwise the session broke off.
    if (e instanceof ClientGone) return stats.end === "quit" ? stats : abort("eof");
    throw e;
  }
}

/** Runs a loop whose channel never waits (blocking fds). */
export function runSync<T>(loop: Generator<Promise<unknown>, T, unknown>): T {
  const step = loop.next();
  if (!step.done) throw new Error("a synchronous channel returned a promise");
  return step.value;
}

/** Runs a loop, awaiting what it yields. */
export async function runAsync<T>(loop: Generator<Promise<unknown>, T, unknown>): Promise<T> {
  let step = loop.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = await step.value;
    } catch (e) {
      step = loop.throw(e);
      continue;
    }
    step = loop.next(value);
  }
  return step.value;
}

/** The channel over blocking reads and writes (fds 0 and 1): pop3d's. */
export function fdTransactionChannel(channel: Channel): TransactionChannel {
  const out = new OutputBuffer(channel, SESSION_OUTPUT_OCTETS);
  const input = new Uint8Array(16 * 1024);
  let chunk: Uint8Array | undefined;
  return {
    out,
    // The encoder's input area (read there, encoded without a copy), made at the first RETR or
    // TOP: instantiating the WebAssembly module costs about 1 ms, a session without one skips it.
    get chunk() {
      return (chunk ??= messageChunk());
    },
    next() {
      out.flush();
      const n = channel.read(input);
      return n === 0 ? undefined : input.subarray(0, n);
    },
    ended: () => "eof",
  };
}

/** Serves one session on a blocking `channel` over `mailbox`. Returns when the session ends. */
export function servePop3d(channel: Channel, mailbox: Mailbox, opts: Pop3dServeOptions = {}): Pop3dStats {
  return runSync(transactionLoop(fdTransactionChannel(channel), mailbox, opts));
}

/**
 * pop3d's part of an in-process session: the TRANSACTION state on an already scanned
 * Maildir, served on the event loop (mod/pop3's session machine and message encoder,
 * as pop3d_server.ts drives them over fds). Messages are streamed in large chunks and
 * each batch of answers is flushed once; a slow reader is waited for (drain).
 */
import type { Mailbox } from "../pop3/mailbox.ts";
import { MESSAGE_READ_CHUNK, OUTPUT_CHUNK_OCTETS } from "../pop3/limits.ts";
import { MessageEncoder } from "../pop3/message_encoder.ts";
import { concludeAnswer, endWithoutQuit, newPop3dStats, type Pop3dServeOptions, type Pop3dStats } from "../pop3/pop3d_server.ts";
import { streamMessage, type Retrieve } from "../pop3/stream_message.ts";
import { transactionSession } from "../pop3/session.ts";
import { newTransactionState } from "../pop3/transaction.ts";
import type { SocketLines, SocketOutput } from "./socket_io.ts";

/** One read buffer for every session: the event loop runs one of them at a time and never awaits mid-read. */
const sharedChunk = new Uint8Array(MESSAGE_READ_CHUNK);

/** Output gathered before a write: large enough for many small messages, bounded per session. */
export const INLINE_OUTPUT_OCTETS = Math.max(OUTPUT_CHUNK_OCTETS, MessageEncoder.maxOutput(MESSAGE_READ_CHUNK) + 1024);

/** Streams one answer, waiting for the client whenever a piece went out; a dropped client ends it (not retrieved). */
async function sendMessage(mailbox: Mailbox, action: Retrieve, out: SocketOutput, stats: Pop3dStats): Promise<void> {
  const pieces = streamMessage(mailbox, action, out, sharedChunk, stats);
  for (let before = out.written; !pieces.next().done; before = out.written) {
    if (out.written !== before) await out.drained(); // a piece went out: let a slow client catch up
    if (out.closed) {
      pieces.return();
      return;
    }
  }
}

/** Serves TRANSACTION until QUIT, end of input, timeout or too many bad commands (servePop3d's loop). The greeting is the caller's. */
export async function serveTransaction(
  input: SocketLines, out: SocketOutput, mailbox: Mailbox, opts: Pop3dServeOptions,
): Promise<Pop3dStats> {
  const session = transactionSession(newTransactionState(mailbox.messages, opts));
  const stats = newPop3dStats(mailbox);
  for (;;) {
    const outcome = session.next();
    if (outcome === undefined) {
      if (!input.hasLine) await out.sent();
      else await out.room(); // a client that pipelines and does not read is not read either
      const piece = out.closed ? undefined : await input.next();
      if (piece === undefined) return endWithoutQuit(input.ended === "timeout" || out.timedOut ? "timeout" : "eof", session.state, mailbox, stats, opts);
      session.push(piece);
      continue;
    }
    if (outcome.reply) out.put(outcome.reply);
    const action = outcome.action;
    if (action?.kind === "retrieve") await sendMessage(mailbox, action, out, stats);
    if (concludeAnswer(outcome, out, mailbox, stats)) return stats;
  }
}

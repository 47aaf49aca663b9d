/**
 * pop3d's part of an in-process session: the TRANSACTION state on an already scanned
 * Maildir, served on the event loop (mod/pop3's session machine and message encoder,
 * as pop3d_server.ts drives them over fds). Messages are streamed in large chunks and
 * each batch of answers is flushed once; a slow reader is waited for (drain).
 */
import type { Mailbox } from "../pop3/mailbox.ts";
import { MESSAGE_READ_CHUNK, OUTPUT_CHUNK_OCTETS } from "../pop3/limits.ts";
import { MessageEncoder } from "../pop3/message_encoder.ts";
import type { Pop3dStats } from "../pop3/pop3d_server.ts";
import { TEXT, err, ok } from "../pop3/responses.ts";
import { transactionSession } from "../pop3/session.ts";
import type { Pop3Action } from "../pop3/table.ts";
import { newTransactionState, quitReply, type TransactionOptions } from "../pop3/transaction.ts";
import type { SocketLines, SocketOutput } from "./socket_io.ts";

type Retrieve = Extract<Pop3Action, { kind: "retrieve" }>;

/** One read buffer for every session: the event loop runs one of them at a time and never awaits mid-read. */
const sharedChunk = new Uint8Array(MESSAGE_READ_CHUNK);

/** Output gathered before a write: large enough for many small messages, bounded per session. */
export const INLINE_OUTPUT_OCTETS = Math.max(OUTPUT_CHUNK_OCTETS, MessageEncoder.maxOutput(MESSAGE_READ_CHUNK) + 1024);

async function streamMessage(mailbox: Mailbox, action: Retrieve, out: SocketOutput, stats: Pop3dStats): Promise<void> {
  let reader;
  try {
    reader = mailbox.open(action.index);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== "ENOENT") stats.problems.push(`unable to open message ${action.index + 1}: ${code ?? String(e)}`);
    out.put(err(TEXT.noSuch));
    return;
  }
  try {
    out.put(ok(`${action.size} octets`));
    const encoder = new MessageEncoder(action.bodyLines);
    while (!encoder.done) {
      let n: number;
      try {
        n = reader.read(sharedChunk);
      } catch (e) {
        stats.problems.push(`unable to read message ${action.index + 1}: ${(e as { code?: string }).code ?? String(e)}`);
        break;
      }
      if (n === 0) break;
      const before = out.written;
      out.reserve(MessageEncoder.maxOutput(n));
      out.length = encoder.encode(sharedChunk.subarray(0, n), out.buf, out.length);
      if (out.written !== before) await out.drained(); // a chunk went out: let a slow client catch up
    }
    out.reserve(8);
    out.length = encoder.finish(out.buf, out.length);
    stats.retrieved++;
    stats.octetsSent += encoder.octets;
  } finally {
    reader.close();
  }
}

/** Serves TRANSACTION until QUIT, end of input, timeout or too many bad commands. The greeting is the caller's. */
export async function serveTransaction(
  input: SocketLines, out: SocketOutput, mailbox: Mailbox, opts: TransactionOptions,
): Promise<Pop3dStats> {
  const session = transactionSession(newTransactionState(mailbox.messages, opts));
  const stats: Pop3dStats = {
    messages: mailbox.messages.length, end: "eof", retrieved: 0, octetsSent: 0, deleted: 0, unremoved: 0, problems: [],
  };
  for (;;) {
    const outcome = session.next();
    if (outcome === undefined) {
      if (!input.hasLine) {
        out.flush();
        await out.drained();
      }
      const piece = await input.next();
      if (piece === undefined) {
        stats.end = input.ended === "timeout" ? "timeout" : "eof";
        return stats;
      }
      session.push(piece);
      continue;
    }
    if (outcome.reply) out.put(outcome.reply);
    const action = outcome.action;
    if (action?.kind === "retrieve") await streamMessage(mailbox, action, out, stats);
    if (action?.kind === "update") {
      const removed = mailbox.remove(action.deleted);
      stats.deleted = removed.removed;
      stats.unremoved = removed.unremoved;
      stats.problems.push(...removed.problems);
      out.put(quitReply(removed.unremoved));
      stats.end = "quit";
    }
    if (outcome.close) {
      if (stats.end !== "quit") stats.end = "bad-commands";
      out.flush();
      return stats;
    }
  }
}

/**
 * Drives a TRANSACTION session over an FdChannel (qmail-pop3d's loop): greet,
 * answer commands, stream messages for RETR and TOP, remove marked messages at QUIT.
 * Returns statistics; never prints (the applet logs).
 */
import type { Mailbox } from "./mailbox.ts";
import { ClientGone, ClientTimeout, OutputBuffer, type Channel } from "./fd_channel.ts";
import { MESSAGE_READ_CHUNK, OUTPUT_CHUNK_OCTETS } from "./limits.ts";
import { MessageEncoder } from "./message_encoder.ts";
import { ok } from "./responses.ts";
import { transactionSession } from "./session.ts";
import { streamMessage } from "./stream_message.ts";
import type { Outcome } from "./table.ts";
import { markedDeleted, newTransactionState, quitReply, type TransactionOptions, type TransactionState } from "./transaction.ts";

export interface Pop3dStats {
  messages: number;
  /** How the session ended. */
  end: "quit" | "eof" | "timeout" | "bad-commands";
  retrieved: number;
  octetsSent: number;
  deleted: number;
  unremoved: number;
  /** Problems worth a log line (unreadable messages, failed unlinks). */
  problems: string[];
  /** Octets (as listed) of the messages removed, and what is left (Qpopper's statistics). */
  deletedOctets?: number;
  leftMessages?: number;
  leftOctets?: number;
}

export interface Pop3dServeOptions extends TransactionOptions {
  /** Qpopper's update-on-abort: remove marked messages when the session ends without QUIT (RFC 1939 says not to). */
  readonly updateOnAbort?: boolean;
}

/** A session's figures before any command: every message left. */
export function newPop3dStats(mailbox: Mailbox): Pop3dStats {
  return {
    messages: mailbox.messages.length, end: "eof", retrieved: 0, octetsSent: 0, deleted: 0, unremoved: 0, problems: [],
    deletedOctets: 0, leftMessages: mailbox.messages.length, leftOctets: mailbox.messages.reduce((t, m) => t + m.size, 0),
  };
}

/** The UPDATE state: removes the marked messages and records it in `stats`; returns how many could not be removed. */
export function removeMarked(mailbox: Mailbox, deleted: readonly number[], stats: Pop3dStats): number {
  const removed = mailbox.remove(deleted);
  stats.deleted = removed.removed;
  stats.unremoved = removed.unremoved;
  stats.problems.push(...removed.problems);
  if (removed.unremoved === 0) {
    const all = [...deleted, ...(removed.alsoRemoved ?? [])];
    const octets = all.reduce((t, i) => t + mailbox.messages[i]!.size, 0);
    stats.deletedOctets = octets;
    stats.leftMessages = mailbox.messages.length - all.length;
    stats.leftOctets = (stats.leftOctets ?? 0) - octets;
  }
  return removed.unremoved;
}

/** The end of a session without QUIT: Qpopper's update-on-abort removes what was marked (RFC 1939 says not to; off by default). */
export function endWithoutQuit(end: Pop3dStats["end"], state: TransactionState, mailbox: Mailbox, stats: Pop3dStats, opts: Pop3dServeOptions): Pop3dStats {
  stats.end = end;
  if (opts.updateOnAbort) {
    const marked = markedDeleted(state);
    if (marked.length > 0) removeMarked(mailbox, marked, stats);
  }
  return stats;
}

/**
 * What follows an answer (and its message, if it had one): QUIT's UPDATE state and its reply.
 * True when the session is over; what is gathered in `out` is then flushed.
 */
export function concludeAnswer(outcome: Outcome, out: { put(bytes: Uint8Array): void; flush(): void }, mailbox: Mailbox, stats: Pop3dStats): boolean {
  if (outcome.action?.kind === "update") {
    out.put(quitReply(removeMarked(mailbox, outcome.action.deleted, stats)));
    stats.end = "quit";
  }
  if (!outcome.close) return false;
  if (stats.end !== "quit") stats.end = "bad-commands";
  out.flush();
  return true;
}

/** Serves one session on `channel` over `mailbox`. Returns when the session ends. */
export function servePop3d(channel: Channel, mailbox: Mailbox, opts: Pop3dServeOptions = {}): Pop3dStats {
  const session = transactionSession(newTransactionState(mailbox.messages, opts));
  const stats = newPop3dStats(mailbox);
  const abort = (end: Pop3dStats["end"]): Pop3dStats => endWithoutQuit(end, session.state, mailbox, stats, opts);
  const chunk = new Uint8Array(MESSAGE_READ_CHUNK);
  const out = new OutputBuffer(channel, Math.max(OUTPUT_CHUNK_OCTETS, MessageEncoder.maxOutput(chunk.length) + 1024));
  const input = new Uint8Array(16 * 1024);
  out.put(ok());
  try {
    for (;;) {
      const outcome = session.next();
      if (outcome === undefined) {
        out.flush();
        const n = channel.read(input);
        if (n === 0) return abort("eof");
        session.push(input.subarray(0, n));
        continue;
      }
      if (outcome.reply) out.put(outcome.reply);
      const action = outcome.action;
      if (action?.kind === "retrieve") for (const _ of streamMessage(mailbox, action, out, chunk, stats)) { /* synchronous writes */ }
      if (concludeAnswer(outcome, out, mailbox, stats)) return stats;
    }
  } catch (e) {
    if (e instanceof ClientTimeout) return abort("timeout");
    // Deletions after QUIT were done before the answer; otherwise the session broke off.
    if (e instanceof ClientGone) return stats.end === "quit" ? stats : abort("eof");

    throw e;
  }
}

/**
 * A mailbox session's figures (the `end=` and statistics lines) and the UPDATE state
 * (RFC 1939 section 6): removing what was marked, at QUIT or (Qpopper's update-on-abort)
 * when the session ends without it.
 */
import type { Mailbox } from "../pop3/mailbox.ts";
import type { Outcome } from "../pop3/table.ts";
import { markedDeleted, quitReply, type Pop3dServeOptions, type Pop3dStats, type TransactionState } from "../pop3/transaction.ts";

export type { Pop3dServeOptions, Pop3dStats };

/** A session's figures before any command: every message left. */
export function newPop3dStats(mailbox: Mailbox): Pop3dStats {
  return {
    messages: mailbox.messages.length, end: "eof", retrieved: 0, octetsSent: 0, deleted: 0, unremoved: 0, problems: [],
    deletedOctets: 0, leftMessages: mailbox.messages.length, leftOctets: octetsOf(mailbox.messages),
  };
}

/** The size of `messages`: a loop rather than reduce(), whose first call costs the process about 0.1 ms. */
function octetsOf(messages: readonly { size: number }[]): number {
  let octets = 0;
  for (let i = 0; i < messages.length; i++) octets += messages[i]!.size;
  return octets;
}

/** The UPDATE state: removes the marked messages and records it in `stats`; returns how many could not be removed. */
export function removeMarked(mailbox: Mailbox, deleted: readonly number[], stats: Pop3dStats): number {
  const removed = mailbox.remove(deleted);
  stats.deleted = removed.removed;
  stats.unremoved = removed.unremoved;
  stats.problems.push(...removed.problems);
  if (removed.unremoved === 0) {
    const all = [...deleted, ...(removed.alsoRemoved ?? [])];
    const octets = octetsOf(all.map((i) => mailbox.messages[i]!));
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
export function concludeAnswer(outcome: Outcome, out: { put(bytes: Uint8Array): void; flush(): void; closing?(): void }, mailbox: Mailbox, stats: Pop3dStats): boolean {
  if (outcome.action?.kind === "update") {
    out.put(quitReply(removeMarked(mailbox, outcome.action.deleted, stats)));
    stats.end = "quit";
  }
  if (!outcome.close) return false;
  if (stats.end !== "quit") stats.end = "bad-commands";
  out.closing?.(); // the last answer: an output that can sends it with the connection's FIN
  out.flush();
  return true;
}

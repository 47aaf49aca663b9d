/**
 * The TRANSACTION state (RFC 1939 section 5), as qmail-pop3d serves it: STAT, LIST,
 * UIDL, TOP, RETR, DELE, NOOP, RSET, LAST, QUIT (and CAPA, added by the session).
 * Messages are numbered from 1 in the order given; a message marked deleted is
 * refused by every command and left out of STAT, LIST and UIDL; nothing is removed
 * before QUIT (the "update" action).
 */
import { parseNumber, splitArgs } from "./command.ts";
import { TEXT, err, ok } from "./responses.ts";
import { langCommand } from "./lang.ts";
import type { CommandTable, Handler, Outcome } from "./table.ts";

export interface MessageInfo {
  /** Size reported by STAT and LIST (octets as sent, or qmail's file size under --compat=qmail). */
  readonly size: number;
  /** The unique-id listing (qmail-pop3d's: the file name up to the first ':'). */
  readonly uidl: string;
}

export interface TransactionOptions {
  /** qmail-pop3d's LAST: only DELE raises it. Otherwise RETR and DELE do (RFC 1460). */
  readonly qmailLast?: boolean;
  /**
   * Qpopper's auto-delete (and EXPIRE 0): a RETR that sent the whole message marks it deleted
   * (the session's loop marks it once the message went out: one that could not be opened or
   * read, or whose client went away, stays).
   */
  readonly autoDelete?: boolean;
  /** The CAPA lines when the policy changes them (LOGIN-DELAY, EXPIRE, shy); default the session's list. */
  readonly capabilities?: readonly string[];
}

/** A TRANSACTION session's figures, for its report (mod/session). */
export interface Pop3dStats {
  messages: number;
  /** How the session ended. */
  /** read-error: a message could not be read after its +OK; the session stopped there, without the terminator. */
  end: "quit" | "eof" | "timeout" | "bad-commands" | "read-error";
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

export interface TransactionState {
  readonly messages: readonly MessageInfo[];
  readonly deleted: Uint8Array;
  /** Highest message number accessed (LAST). */
  last: number;
  readonly options: TransactionOptions;
}

export function newTransactionState(messages: readonly MessageInfo[], options: TransactionOptions = {}): TransactionState {
  return { messages, deleted: new Uint8Array(messages.length), last: 0, options };
}

const encoder = new TextEncoder();

/** A message number argument -> 0-based index, or the -ERR outcome (qmail-pop3d's msgno()). */
function messageIndex(state: TransactionState, text: string | undefined): number | Outcome {
  const n = parseNumber(text);
  if (n === undefined) return { reply: err(TEXT.syntax), bad: true };
  if (n === 0) return { reply: err(TEXT.noZero) };
  if (n > state.messages.length) return { reply: err(TEXT.tooBig) };
  if (state.deleted[n - 1]) return { reply: err(TEXT.deleted) };
  return n - 1;
}

function touch(state: TransactionState, index: number): void {
  if (index + 1 > state.last) state.last = index + 1;
}

const stat: Handler<TransactionState> = (state) => {
  let count = 0;
  let total = 0;
  state.messages.forEach((m, i) => {
    if (!state.deleted[i]) {
      count++;
      total += m.size;
    }
  });
  return { reply: ok(`${count} ${total}`) };
};

function listing(field: (m: MessageInfo) => string | number): Handler<TransactionState> {
  return (state, arg) => {
    const args = splitArgs(arg);
    if (args.length > 1) return { reply: err(TEXT.syntax), bad: true };
    if (args.length === 1) {
      const index = messageIndex(state, args[0]);
      if (typeof index !== "number") return index;
      return { reply: ok(`${index + 1} ${field(state.messages[index]!)}`) };
    }
    const lines: string[] = ["+OK \r\n"];
    state.messages.forEach((m, i) => {
      if (!state.deleted[i]) lines.push(`${i + 1} ${field(m)}\r\n`);
    });
    lines.push(".\r\n");
    return { reply: encoder.encode(lines.join("")) };
  };
}

const retr: Handler<TransactionState> = (state, arg) => {
  const args = splitArgs(arg);
  if (args.length !== 1) return { reply: err(TEXT.syntax), bad: true };
  const index = messageIndex(state, args[0]);
  if (typeof index !== "number") return index;
  if (!state.options.qmailLast) touch(state, index);
  return { action: { kind: "retrieve", index, bodyLines: undefined, size: state.messages[index]!.size } };
};

const top: Handler<TransactionState> = (state, arg) => {
  const args = splitArgs(arg);
  if (args.length !== 2) return { reply: err(TEXT.syntax), bad: true };
  const index = messageIndex(state, args[0]);
  if (typeof index !== "number") return index;
  const lines = parseNumber(args[1]);
  if (lines === undefined) return { reply: err(TEXT.syntax), bad: true };
  return { action: { kind: "retrieve", index, bodyLines: lines, size: state.messages[index]!.size } };
};

const dele: Handler<TransactionState> = (state, arg) => {
  const args = splitArgs(arg);
  if (args.length !== 1) return { reply: err(TEXT.syntax), bad: true };
  const index = messageIndex(state, args[0]);
  if (typeof index !== "number") return index;
  state.deleted[index] = 1;
  touch(state, index);
  return { reply: ok(`message ${index + 1} deleted`) };
};

const rset: Handler<TransactionState> = (state) => {
  state.deleted.fill(0);
  state.last = 0;
  return { reply: ok() };
};

const last: Handler<TransactionState> = (state) => ({ reply: ok(`${state.last}`) });
const noop: Handler<TransactionState> = () => ({ reply: ok() });

const quit: Handler<TransactionState> = (state) => ({ action: { kind: "update", deleted: markedDeleted(state) }, close: true });

export const TRANSACTION_TABLE: CommandTable<TransactionState> = {
  handlers: new Map<string, Handler<TransactionState>>([
    ["stat", stat],
    ["list", listing((m) => m.size)],
    ["uidl", listing((m) => m.uidl)],
    ["top", top],
    ["retr", retr],
    ["dele", dele],
    ["noop", noop],
    ["rset", rset],
    ["last", last],
    ["lang", (_state, arg) => langCommand(arg)],
    ["quit", quit],
  ]),
  unknown: () => ({ reply: err(TEXT.unimplemented), bad: true }),
  capabilities: (state) => state.options.capabilities,
};

/** The 0-based numbers of the messages marked deleted (for QUIT, or update-on-abort). */
export function markedDeleted(state: TransactionState): number[] {
  const deleted: number[] = [];
  state.deleted.forEach((flag, i) => {
    if (flag) deleted.push(i);
  });
  return deleted;
}

/** The answer to QUIT once the update ran: how many messages could not be removed. */
export function quitReply(unremoved: number): Uint8Array {
  return unremoved === 0 ? ok() : err(TEXT.noUnlink);
}

/**
 * One RETR/TOP answer streamed from the mailbox into an output buffer, shared by pop3d over
 * fds (synchronous writes) and serve --inline (socket writes that wait for a slow client).
 */
import type { Mailbox } from "../pop3/mailbox.ts";
import { MessageEncoder } from "../pop3/message_encoder.ts";
import type { Pop3dStats } from "./_stats.ts";
import { TEXT, err, ok } from "../pop3/responses.ts";
import type { Pop3Action } from "../pop3/table.ts";

export type Retrieve = Extract<Pop3Action, { kind: "retrieve" }>;

/**
 * A message could not be read after its +OK went out: the session ends there, without the
 * terminating dot, as qmail-pop3d dies, so the client sees a broken transfer instead of a
 * shorter message it would take for whole (and DELE); nothing is removed without a QUIT.
 */
export class MessageReadFailed extends Error {
  constructor(readonly problem: string) {
    super(problem);
    this.name = "MessageReadFailed";
  }
}

/** What a message is encoded into: pop3d's OutputBuffer or --inline's SocketOutput. */
export interface MessageSink {
  buf: Uint8Array;
  length: number;
  put(bytes: Uint8Array): void;
  /** Makes room for `n` octets after `length`, writing out what is gathered if needed. */
  reserve(n: number): void;
}

/**
 * Puts `+OK N octets`, the message (CRLF line ends, dot-stuffed) and its terminator into
 * `out`, reading `chunk`-sized pieces; yields after each piece so an asynchronous writer can
 * wait for the client, and may be stopped there with return() (the file is closed and the
 * message is not counted as retrieved). A message that cannot be opened gets -ERR. Returns
 * whether the whole message went into `out` (auto-delete marks only such a message).
 */
export function* streamMessage(mailbox: Mailbox, action: Retrieve, out: MessageSink, chunk: Uint8Array, stats: Pop3dStats): Generator<void, boolean, void> {
  let reader;
  let n: number;
  try {
    reader = mailbox.open(action.index);
  } catch (e) {
    refuse(e, "open", action, out, stats);
    return false;
  }
  try {
    // The first piece is read before +OK: a message that cannot be read at all (or is not a
    // regular file) gets -ERR as one that cannot be opened, not a +OK and nothing.
    try {
      n = reader.read(chunk);
    } catch (e) {
      refuse(e, "read", action, out, stats);
      return false;
    }
    out.put(ok(`${action.size} octets`));
    const encoder = new MessageEncoder(action.bodyLines);
    while (n > 0 && !encoder.done) {
      out.reserve(MessageEncoder.maxOutput(n)); // writes out only when this piece might not fit
      out.length = encoder.encode(chunk.subarray(0, n), out.buf, out.length);
      yield;
      if (encoder.done) break;
      try {
        n = reader.read(chunk);
      } catch (e) {
        // Already answered +OK: no terminator (the client would take the piece for the message).
        throw new MessageReadFailed(`unable to read message ${action.index + 1}: ${(e as { code?: string }).code ?? String(e)}`);
      }
    }
    // A message that moved while it was read (an mbox rewritten in place) is a mix: no terminator.
    if (reader.intact?.() === false) throw new MessageReadFailed(`unable to read message ${action.index + 1}: ESTALE (the mailbox was rewritten while it was sent)`);
    out.reserve(8);
    out.length = encoder.finish(out.buf, out.length);
    stats.retrieved++;
    if (action.bodyLines === undefined) mailbox.retrieved?.(action.index);
    stats.octetsSent += encoder.octets;
    return true;
  } finally {
    reader.close();
  }
}

/** -ERR for a message that vanished (ENOENT: another session took it) or cannot be opened or read (noted as a problem). */
function refuse(e: unknown, what: "open" | "read", action: Retrieve, out: MessageSink, stats: Pop3dStats): void {
  const code = (e as { code?: string }).code;
  if (code !== "ENOENT") stats.problems.push(`unable to ${what} message ${action.index + 1}: ${code ?? String(e)}`);
  out.put(err(TEXT.noSuch));
}

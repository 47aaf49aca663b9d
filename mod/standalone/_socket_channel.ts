/**
 * The TRANSACTION loop's channel over a socket in serve's event loop (mod/session's
 * transaction_loop.ts runs the same loop over pop3d's fds): each batch of answers is
 * flushed once, messages go out in large chunks, and a slow reader is waited for.
 */
import { messageChunk } from "../pop3/message_encoder_wasm.ts";
import type { TransactionChannel } from "../session/transaction_loop.ts";
import type { SocketLines, SocketOutput } from "./socket_io.ts";

/**
 * One read buffer for every session (the encoder's input area: no copy before encoding): the
 * event loop runs one of them at a time and never awaits between a read and its encoding.
 */
const sharedChunk = messageChunk();

export function socketTransactionChannel(input: SocketLines, out: SocketOutput): TransactionChannel {
  let mark = out.written;
  const waitForNext = async (): Promise<Uint8Array | undefined> => {
    if (!input.hasLine) await out.sent();
    else await out.room(); // a client that pipelines and does not read is not read either
    const piece = out.closed ? undefined : await input.next();
    mark = out.written;
    return piece;
  };
  return {
    out,
    chunk: sharedChunk,
    next() {
      // A pipelined command with room for its answer is taken at once: no promise, no trip
      // through the microtask queue per command (a 4 KB RETR costs only a few microseconds).
      if (!out.closed && out.hasRoom) {
        const line = input.lineNow();
        if (line !== undefined) {
          mark = out.written;
          return line;
        }
      }
      return waitForNext();
    },
    piece() {
      if (out.written === mark) return !out.closed;
      // A piece went out: let a slow client catch up; a dropped client ends the message (not retrieved).
      mark = out.written;
      return out.drained().then(() => !out.closed);
    },
    ended: () => (input.ended === "timeout" || out.timedOut ? "timeout" : "eof"),
  };
}

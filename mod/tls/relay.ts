/**
 * Relaying between a TLS stream and a program's stdin/stdout pipes, as ucspi-ssl's
 * sslserver does: the program speaks plaintext, the client sees only TLS. Backpressure
 * both ways (pause the side that writes faster). Used by popup after STLS (the
 * checkpassword chain talks through it) and by serve --tls (the whole program does).
 */
import type { ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type tls from "node:tls";

export interface RelayEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * With `keepUnanswered`: every byte given to the program, when it ended without writing a
   * single one (checkpassword refusing a login reads nothing; its stdin is the pipelined rest
   * of the conversation, which belongs to popup again), and what the client sent beyond
   * MAX_KEPT_OCTETS, which waited for the program's first answer; undefined once it wrote.
   */
  unread?: Uint8Array;
}

/** What a relay keeps for a program that may give the conversation back: the login's pipelined commands fit easily. */
const MAX_KEPT_OCTETS = 256 * 1024;

/**
 * Relays until the child exits and its stdout is drained; `first` goes to the child
 * before anything else (bytes already read from the client). Removes its listeners
 * at the end, so the caller may take the socket back.
 */
export function relayChild(sock: tls.TLSSocket, child: ChildProcess, first: Uint8Array, opts: { keepUnanswered?: boolean } = {}): Promise<RelayEnd> {
  const stdin = child.stdin as Writable;
  const stdout = child.stdout as Readable;
  // keepUnanswered: what the program was given, while it has written nothing; at most
  // MAX_KEPT_OCTETS of the client's input go to it before then, the rest waits here (held, the
  // client paused, as it waits in the socket without TLS) and follows once the program answered.
  let kept: Buffer[] | undefined = opts.keepUnanswered === true ? [] : undefined;
  let keptOctets = 0;
  let held: Buffer[] = [];
  let endHeld = false;
  stdin.on("error", () => { /* the program stopped reading: its exit tells */ });
  if (first.length > 0) {
    if (kept !== undefined) {
      kept.push(Buffer.from(first));
      keptOctets += first.length;
    }
    stdin.write(first);
  }
  const fromClient = (chunk: Buffer) => {
    if (kept !== undefined) {
      if (held.length > 0 || keptOctets + chunk.length > MAX_KEPT_OCTETS) {
        held.push(Buffer.from(chunk));
        sock.pause();
        return;
      }
      kept.push(Buffer.from(chunk));
      keptOctets += chunk.length;
    }
    if (!stdin.write(chunk)) sock.pause();
  };
  const clientEnded = () => {
    if (held.length > 0) endHeld = true;
    else stdin.end();
  };
  // The connection is gone: nothing the program writes can reach anybody. Closing our end of
  // its stdout makes its next write fail (EPIPE), as a write to a closed socket does in the
  // chain without TLS, so a program blocked mid-RETR ends now instead of holding the
  // mailbox's lock and a connection slot until its write timeout.
  const clientGone = () => {
    stdin.end();
    stdout.destroy();
  };
  const resumeClient = () => {
    if (held.length === 0) sock.resume();
  };
  const toClient = (chunk: Buffer) => {
    if (kept !== undefined) {
      // The program answered: it reads its input; what waited goes to it, in order.
      kept = undefined;
      const waiting = held;
      held = [];
      let room = true;
      for (const piece of waiting) room = stdin.write(piece);
      if (endHeld) stdin.end();
      else if (waiting.length > 0 && room) sock.resume(); // else stdin's drain resumes the client
    }
    if (!sock.destroyed && !sock.write(chunk)) stdout.pause();
  };
  const resumeProgram = () => stdout.resume();
  sock.on("data", fromClient);
  sock.on("end", clientEnded);
  sock.on("close", clientGone);
  stdin.on("drain", resumeClient);
  stdout.on("data", toClient);
  sock.on("drain", resumeProgram);
  sock.resume();
  return new Promise((resolve) => {
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      sock.removeListener("data", fromClient);
      sock.removeListener("end", clientEnded);
      sock.removeListener("close", clientGone);
      sock.removeListener("drain", resumeProgram);
      stdout.removeListener("data", toClient);
      if (!sock.destroyed) sock.pause();
      resolve({ code, signal, ...(kept === undefined ? {} : { unread: Buffer.concat([...kept, ...held]) }) });
    });
  });
}

/** Ends a TLS session once what was written went out (close_notify, then FIN), bounded by `timeoutMs`. */
export function endTls(sock: tls.TLSSocket, timeoutMs = 5000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (sock.destroyed) return resolve();
    const timer = setTimeout(() => { sock.destroy(); resolve(); }, timeoutMs);
    sock.end(() => { clearTimeout(timer); sock.destroy(); resolve(); });
  });
}

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
}

/**
 * Relays until the child exits and its stdout is drained; `first` goes to the child
 * before anything else (bytes already read from the client). Removes its listeners
 * at the end, so the caller may take the socket back.
 */
export function relayChild(sock: tls.TLSSocket, child: ChildProcess, first: Uint8Array): Promise<RelayEnd> {
  const stdin = child.stdin as Writable;
  const stdout = child.stdout as Readable;
  stdin.on("error", () => { /* the program stopped reading: its exit tells */ });
  if (first.length > 0) stdin.write(first);
  const fromClient = (chunk: Buffer) => {
    if (!stdin.write(chunk)) sock.pause();
  };
  const clientEnded = () => stdin.end();
  const resumeClient = () => sock.resume();
  const toClient = (chunk: Buffer) => {
    if (!sock.destroyed && !sock.write(chunk)) stdout.pause();
  };
  const resumeProgram = () => stdout.resume();
  sock.on("data", fromClient);
  sock.on("end", clientEnded);
  sock.on("close", clientEnded);
  stdin.on("drain", resumeClient);
  stdout.on("data", toClient);
  sock.on("drain", resumeProgram);
  sock.resume();
  return new Promise((resolve) => {
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      sock.removeListener("data", fromClient);
      sock.removeListener("end", clientEnded);
      sock.removeListener("close", clientEnded);
      sock.removeListener("drain", resumeProgram);
      stdout.removeListener("data", toClient);
      if (!sock.destroyed) sock.pause();
      resolve({ code, signal });
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

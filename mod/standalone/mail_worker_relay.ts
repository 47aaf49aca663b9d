/**
 * TLS sessions of system users under serve --inline as root: TLS stays in serve (the
 * keys never reach a process the user owns), and the session's process gets one end of
 * a socket pair as its connection; serve relays the plaintext between that pair and the
 * TLS socket. Bounded: each direction is a stream pipe (a 16 KB high-water mark), so a
 * side that does not read pauses the other. When the session's process closes its end,
 * what it wrote is passed on and TLS is closed; when the client closes, the process reads
 * end of file.
 */
import type net from "node:net";
import { nodeNet } from "../sys/builtins.ts";
import { SOCK_STREAM, closeDescriptor, socketPair } from "../sys/fd_passing.ts";

export interface PlainRelay {
  /** The descriptor to hand to the session's process (serve closes its copy with release()). */
  fd: number;
  /** Closes serve's copy of `fd` (call once the process holds it). */
  release(): void;
  /**
   * Resolves once everything the process wrote reached the TLS socket and the relay is
   * closed, or after `graceMs` (a client that stops reading).
   */
  finished(graceMs: number): Promise<void>;
  /** Stops relaying (the session was not handed over). */
  abandon(): void;
}

/** Starts relaying between `secure` and a new socket pair. Throws SysCallError. */
export function relayPlaintext(secure: net.Socket): PlainRelay {
  const [mine, theirs] = socketPair(SOCK_STREAM);
  const plain = nodeNet().connect({ fd: mine } as unknown as net.NetConnectOpts);
  let closed = false;
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      if (closed) return;
      closed = true;
      resolve();
    };
    plain.on("close", finish);
    plain.on("error", () => {
      secure.destroy();
      finish();
    });
    secure.on("error", () => plain.destroy());
    secure.on("close", () => plain.destroy());
  });
  // The process's output to the client; its end closes TLS (close_notify, then FIN).
  plain.pipe(secure);
  // The client's input to the process; the client's end is the process's end of file.
  secure.pipe(plain);
  let released = false;
  return {
    fd: theirs,
    release() {
      if (released) return;
      released = true;
      closeDescriptor(theirs);
    },
    abandon() {
      secure.unpipe(plain);
      plain.destroy();
    },
    async finished(graceMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      plain.destroy();
    },
  };
}

/**
 * Private to mod/proxy: a backend connection made with node:net or node:tls (the --backend-tls
 * path, where the PROXY header goes in clear before the handshake) behind the same interface
 * as Bun's own socket.
 */
import type net from "node:net";
import { describeSysError } from "../base/errors.ts";
import { HeldEvents } from "./_held_events.ts";
import type { BackendConnection } from "./backend_socket.ts";

class StreamBackend extends HeldEvents implements BackendConnection {
  readonly fd = undefined;
  #waitingDrain = false;

  constructor(private readonly socket: net.Socket) {
    super(false);
    socket.on("data", (chunk: Buffer) => this.gotData(chunk));
    socket.on("end", () => this.gotEnd());
    socket.on("error", (e) => this.gotClose(describeSysError(e)));
    socket.on("close", () => this.gotClose(undefined));
    socket.on("drain", () => {
      if (!this.#waitingDrain) return;
      this.#waitingDrain = false;
      this.drained();
    });
    socket.pause();
  }

  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  send(bytes: Uint8Array, sent?: () => void): boolean {
    if (this.socket.destroyed) {
      sent?.();
      return true;
    }
    const room = this.socket.write(bytes, sent === undefined ? undefined : () => sent());
    if (!room) this.#waitingDrain = true;
    return room;
  }

  shutdown(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
    this.gotClose(undefined);
  }
}

/** The TLS path's socket (or any node:net socket) as a BackendConnection. */
export function streamBackend(socket: net.Socket): BackendConnection {
  return new StreamBackend(socket);
}

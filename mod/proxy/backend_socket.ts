/**
 * The proxy's connection to a backend, as the login and the relay use it: bytes in through
 * handlers, bytes out with backpressure (`send` says when the caller must wait for `drain`),
 * reading paused and resumed, half-close, close. A plain connection is one of Bun's own
 * sockets (Bun.connect): each chunk goes straight to a handler and each write is one send(2),
 * with no stream layer, event emitter or tick between them. TLS to the backend (--backend-tls) keeps node:tls (the PROXY header
 * goes in clear before the handshake) behind the same interface.
 */
import { describeSysError } from "../base/errors.ts";
import { HeldEvents, type BackendHandlers } from "./_held_events.ts";

export type { BackendHandlers };


export interface BackendConnection {
  /** The plain connection's descriptor (undefined over TLS). */
  readonly fd: number | undefined;
  readonly ended: boolean;
  readonly closed: boolean;
  attach(handlers: BackendHandlers): void;
  detach(): void;
  /**
   * Sends `bytes` (kept by reference until sent: the caller leaves them alone). True when the
   * kernel took them all; false when the rest waits for the socket: `drain` follows once it is
   * sent, and the caller stops feeding until then. `sent` is called once the bytes have all gone.
   */
  send(bytes: Uint8Array, sent?: () => void): boolean;
  pause(): void;
  resume(): void;
  /** Sends FIN after what is still held back; reading goes on. */
  shutdown(): void;
  /** Closes the connection at once. */
  destroy(): void;
}
type NativeSocket = Bun.Socket<NativeBackend>;

/** A plain backend connection on Bun's own socket. */
class NativeBackend extends HeldEvents implements BackendConnection {
  socket: NativeSocket | undefined;

  constructor() {
    super(true);
  }
  #unsent: Uint8Array | undefined;
  #whenSent: (() => void)[] = [];
  #shutdownWanted = false;

  get fd(): number | undefined {
    const fd = (this.socket as unknown as { fd?: unknown } | undefined)?.fd;
    return typeof fd === "number" && fd >= 0 ? fd : undefined;
  }

  protected pauseReading(): void {
    this.socket?.pause();
  }

  protected resumeReading(): void {
    this.socket?.resume();
  }

  send(bytes: Uint8Array, sent?: () => void): boolean {
    const socket = this.socket;
    if (this.#unsent !== undefined) {
      const both = new Uint8Array(this.#unsent.length + bytes.length);
      both.set(this.#unsent, 0);
      both.set(bytes, this.#unsent.length);
      this.#unsent = both;
      if (sent) this.#whenSent.push(sent);
      return false;
    }
    const taken = socket === undefined || this.closed ? -1 : socket.write(bytes);
    // -1: the socket is closed or closing; its close handler says so.
    if (taken < 0 || taken === bytes.length) {
      sent?.();
      return true;
    }
    this.#unsent = bytes.subarray(taken);
    if (sent) this.#whenSent.push(sent);
    return false;
  }

  /** The socket can take more: sends what was held back. */
  onWritable(): void {
    const unsent = this.#unsent;
    if (unsent === undefined || this.socket === undefined) return;
    const taken = this.socket.write(unsent);
    if (taken >= 0 && taken < unsent.length) {
      this.#unsent = unsent.subarray(taken);
      return;
    }
    this.#unsent = undefined;
    const callbacks = this.#whenSent;
    this.#whenSent = [];
    for (const callback of callbacks) callback();
    if (this.#shutdownWanted) this.socket.shutdown();
    this.drained();
  }

  shutdown(): void {
    if (this.#unsent !== undefined) this.#shutdownWanted = true;
    else if (!this.closed) this.socket?.shutdown();
  }

  destroy(): void {
    // close(): the descriptor is closed at once (two system calls; end() adds an uncork and a poll change).
    if (!this.closed) this.socket?.close();
    this.gotClose(undefined);
  }

  onData(chunk: Uint8Array): void {
    this.gotData(chunk);
  }

  onEnd(): void {
    this.gotEnd();
  }

  onClose(error: string | undefined): void {
    const callbacks = this.#whenSent;
    this.#whenSent = [];
    this.#unsent = undefined;
    for (const callback of callbacks) callback();
    this.gotClose(error);
  }
}

const NATIVE_HANDLERS: Bun.SocketHandler<NativeBackend, "uint8array"> = {
  binaryType: "uint8array",
  open: (socket) => {
    socket.data.socket = socket;
  },
  data: (socket, chunk) => socket.data.onData(chunk),
  drain: (socket) => socket.data.onWritable(),
  end: (socket) => socket.data.onEnd(),
  close: (socket, error) => socket.data.onClose(error === undefined ? undefined : describeSysError(error)),
  error: (socket, error) => socket.data.onClose(describeSysError(error)),
};

export class ConnectFailed extends Error {}

/**
 * Connects to `host`:`port` with Bun's own socket, within `timeoutMs`. Rejects with
 * ConnectFailed saying why. TCP_NODELAY is on (Bun's default): the login's and the relay's
 * writes are whole commands and answers.
 */
export function connectPlain(host: string, port: number, timeoutMs: number): Promise<BackendConnection> {
  const conn = new NativeBackend();
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      conn.destroy();
      reject(new ConnectFailed(`connect timed out after ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    Bun.connect<NativeBackend>({
      hostname: host,
      port,
      allowHalfOpen: true,
      data: conn,
      socket: NATIVE_HANDLERS as unknown as Bun.SocketHandler<NativeBackend>,
    }).then(
      (socket) => {
        if (settled) return void socket.close(); // too late: the login has given up on it
        settled = true;
        clearTimeout(timer);
        resolve(conn); // Bun sets TCP_NODELAY on its connections

      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new ConnectFailed(`unable to connect: ${describeSysError(err)}`));
      },
    );
  });
}

/**
 * The proxy's connection to a backend, as the login and the relay use it: bytes in through
 * handlers, bytes out with backpressure (`send` says when the caller must wait for `drain`),
 * reading paused and resumed, half-close, close. A plain connection is one of Bun's own
 * sockets (Bun.connect): each chunk goes straight to a handler and each write is one send(2),
 * with no stream layer, event emitter or tick between them, which is most of what a relayed
 * login costs the proxy. TLS to the backend (--backend-tls) keeps node:tls (the PROXY header
 * goes in clear before the handshake) behind the same interface.
 */
import type net from "node:net";
import { describeSysError } from "../base/errors.ts";

export interface BackendHandlers {
  data(chunk: Uint8Array): void;
  /** What `send` held back has all been sent. */
  drain(): void;
  /** The backend closed its side (FIN); ours stays open for writing. */
  end(): void;
  /** The connection is gone; `error` says why when it failed rather than closed. */
  close(error: string | undefined): void;
}

/** What a connection keeps read while nobody listens before it stops reading. */
const MAX_HELD_OCTETS = 16 * 1024;

/**
 * Events that come while nobody listens (between the login and the relay) are kept and given
 * to the next handlers: the reading is paused meanwhile, so what is kept is a read or two.
 */
abstract class HeldEvents {
  #handlers: BackendHandlers | undefined;
  #held: Uint8Array[] = [];
  #heldOctets = 0;
  #ended = false;
  #closed: { error: string | undefined } | undefined;
  /** The caller asked for a pause (backpressure). */
  #paused = false;
  /** Whether the socket reads now: its pause and resume are called on a change only. */
  #reading: boolean;

  constructor(reading: boolean) {
    this.#reading = reading;
  }

  protected abstract pauseReading(): void;
  protected abstract resumeReading(): void;

  /** Whether the backend's FIN came. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Whether the connection is gone. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  #stop(): void {
    if (!this.#reading) return;
    this.#reading = false;
    this.pauseReading();
  }

  #start(): void {
    if (this.#reading || this.#closed !== undefined) return;
    this.#reading = true;
    this.resumeReading();
  }

  /** Gives the events to `handlers` from now on, beginning with those kept meanwhile. */
  attach(handlers: BackendHandlers): void {
    this.#handlers = handlers;
    // A handler may detach or close on the way (the relay ends): then the rest stays for later.
    while (this.#held.length > 0 && this.#handlers === handlers) {
      const chunk = this.#held.shift()!;
      this.#heldOctets -= chunk.length;
      handlers.data(chunk);
    }
    if (this.#handlers === handlers && this.#ended) handlers.end();
    if (this.#handlers !== handlers) return;
    if (this.#closed !== undefined) handlers.close(this.#closed.error);
    else if (!this.#paused) this.#start();
  }

  /** Stops giving events: they are kept for the next `attach` (reading stops once they are many). */
  detach(): void {
    this.#handlers = undefined;
  }

  pause(): void {
    this.#paused = true;
    this.#stop();
  }

  resume(): void {
    this.#paused = false;
    if (this.#handlers !== undefined) this.#start();
  }

  protected gotData(chunk: Uint8Array): void {
    if (this.#handlers !== undefined) return this.#handlers.data(chunk);
    // Kept without pausing (a pause and a resume cost the native socket four system calls) as
    // long as it is little: a backend's answers between the login and the relay are a few lines.
    this.#held.push(chunk);
    this.#heldOctets += chunk.length;
    if (this.#heldOctets > MAX_HELD_OCTETS) this.#stop();
  }

  protected gotEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#handlers?.end();
  }

  protected gotClose(error: string | undefined): void {
    if (this.#closed !== undefined) return;
    this.#closed = { error };
    this.#handlers?.close(error);
  }

  protected drained(): void {
    this.#handlers?.drain();
  }
}

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

/** A connection made with node:net or node:tls (the TLS path) behind the same interface. */
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

/**
 * Private to mod/proxy: what a backend connection does with its events whoever carries them
 * (Bun's socket or node:tls): given to the handlers attached, or kept while none are.
 */
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
 * to the next handlers; past MAX_HELD_OCTETS the reading stops until they are taken.
 */
export abstract class HeldEvents {
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


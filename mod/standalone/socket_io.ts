/**
 * The client connection of an in-process session: command lines in, responses out,
 * on a net.Socket in serve's event loop. Input is kept here and handed to the POP3
 * session one line at a time, so whatever the client pipelined after PASS stays here
 * for the TRANSACTION session (as popup's byte-exact reads leave it for pop3d).
 * Output is gathered and written in large chunks, once per batch of answers.
 */
import type net from "node:net";
import { unsentOctets } from "../sys/fd.ts";
import { drainPendingInput, peekSocket, writeAvailable } from "../sys/poll.ts";
import { MAX_COMMAND_OCTETS } from "../pop3/limits.ts";

const LF = 0x0a;
const EMPTY = new Uint8Array(0);

export type ReadEnd = "eof" | "timeout";

/**
 * Input held unread per connection before its socket is paused (TCP flow control then stops
 * the client): far more than an honest pipelined batch (RFC 2449 section 6.6), which a
 * client sends only as far as its own window allows.
 */
export const MAX_UNREAD_INPUT_OCTETS = 64 * 1024;

export class SocketLines {
  #buffer: Uint8Array = EMPTY;
  #ended: ReadEnd | undefined;
  #wake: (() => void) | undefined;
  readonly socket: net.Socket;

  readonly #timeoutMs: number;

  constructor(socket: net.Socket, timeoutMs: number) {
    this.socket = socket;
    // qmail's timeoutread: the client's silence while we wait for its next command ends the
    // session; our own waiting (the failed-login delay, a password check) never counts.
    // SocketOutput bounds the time a client takes nothing (qmail's timeoutwrite).
    this.#timeoutMs = timeoutMs;
    // A client that half-closes after its last command (QUIT, then shutdown(SHUT_WR), as
    // `nc -N` or a script does) still gets every answer: the socket must not end our side
    // when the client's input ends. The session closes the connection when it is done.
    (socket as { allowHalfOpen: boolean }).allowHalfOpen = true;
    socket.on("data", (chunk: Buffer) => this.#received(chunk));
    socket.on("end", () => this.#end("eof"));
    socket.on("close", () => this.#end("eof"));
    socket.on("error", () => this.#end("eof"));
    socket.resume();
  }

  #received(chunk: Uint8Array): void {
    if (this.#buffer.length === 0) {
      this.#buffer = new Uint8Array(chunk); // a copy: Bun may reuse the chunk's memory
    } else {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer, 0);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    // Hold at most a few lines' worth unread: a client that floods stops being read (TCP flow control).
    if (this.#buffer.length > MAX_UNREAD_INPUT_OCTETS) this.socket.pause();
    this.#poke();
  }

  #end(why: ReadEnd): void {
    if (this.#ended === undefined) this.#ended = why;
    this.#poke();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Whether a complete line is waiting. */
  get hasLine(): boolean {
    return this.#buffer.indexOf(LF) >= 0;
  }

  /** The next whole line with its LF when one is waiting (what next() would give at once), else undefined. */
  lineNow(): Uint8Array | undefined {
    const lf = this.#buffer.indexOf(LF);
    return lf < 0 ? undefined : this.#take(lf + 1);
  }

  /** How the input ended (undefined while it has not). */
  get ended(): ReadEnd | undefined {
    return this.#ended;
  }

  /**
   * The next piece to feed the POP3 session: a whole line with its LF, or (for a line
   * longer than the session accepts) what has come of it so far, which the session's
   * framer discards. Waits for input; undefined once the input ended.
   */
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const lf = this.#buffer.indexOf(LF);
      if (lf >= 0) return this.#take(lf + 1);
      if (this.#buffer.length > MAX_COMMAND_OCTETS) return this.#take(this.#buffer.length);
      if (this.#ended !== undefined) return undefined;
      await this.#clientSends();
    }
  }

  /**
   * popup's byte-exact read: up to and including the next LF, at most buf.length octets,
   * never beyond; 0 once the input ended. What follows stays here for the next reader.
   */
  async readToLineEnd(buf: Uint8Array): Promise<number> {
    for (;;) {
      const lf = this.#buffer.indexOf(LF);
      if (lf >= 0 || this.#buffer.length >= buf.length || (this.#ended !== undefined && this.#buffer.length > 0)) {
        const n = Math.min(lf >= 0 ? lf + 1 : this.#buffer.length, buf.length);
        buf.set(this.#take(n));
        return n;
      }
      if (this.#ended !== undefined) return 0;
      await this.#clientSends();
    }
  }

  /** Waits for input (or its end); the client's silence for the whole timeout ends the session. */
  async #clientSends(): Promise<void> {
    if (this.socket.isPaused()) this.socket.resume();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(() => {
        this.#end("timeout");
        this.socket.destroy();
      }, this.#timeoutMs);
    });
    clearTimeout(timer);
  }

  #take(n: number): Uint8Array {
    const piece = this.#buffer.subarray(0, n);
    this.#buffer = n === this.#buffer.length ? EMPTY : this.#buffer.subarray(n);
    return piece;
  }

  /** Stops watching the socket (before handing it to another process). */
  detach(): Uint8Array {
    this.socket.removeAllListeners("data");
    this.socket.pause();
    this.socket.setTimeout(0);
    // A paused socket still reads ahead into its stream buffer (tens of KiB): what it holds was
    // taken from the kernel already, so the next reader of the descriptor would never see it.
    let rest = this.#buffer;
    this.#buffer = EMPTY;
    for (let ahead = this.socket.read() as Buffer | null; ahead !== null && ahead.length > 0; ahead = this.socket.read() as Buffer | null) {
      const joined = new Uint8Array(rest.length + ahead.length);
      joined.set(rest, 0);
      joined.set(ahead, rest.length);
      rest = joined;
    }
    return rest;
  }
}

/**
 * Closes a connection whose session is over: our answers and FIN go out (end), and what the
 * client still sends is read and dropped, so that its close or reset is seen and the socket
 * freed. A socket left paused (a client that flooded input) is never told the peer went away
 * and would hold its descriptor in serve's process for good. A client that sends more than
 * MAX_UNREAD_INPUT_OCTETS after the end is cut off at once (as the kernel resets a connection
 * whose process exited), one that neither closes nor takes what is left after `timeoutMs`
 * (qmail's timeoutwrite): a finished session no longer counts against -c, so neither may cost
 * serve more than that.
 */
export function closeWhenDone(socket: net.Socket, timeoutMs: number): void {
  if (socket.destroyed) return;
  // A plain connection with nothing left to send and nothing unread (the usual end, after
  // QUIT): closed at once. The kernel still sends what it holds, then the FIN (close(2) resets
  // only a connection with unread input), and the client's own close then ends at the kernel's
  // socket instead of waking this process once more per connection, with a timer to bound it.
  // Only while the client has little left to take: input that arrives after close(2) makes the
  // kernel reset the connection and throw away all it still holds for the client (the end of a
  // RETR to a slow reader that sent a line after QUIT); such a connection is half-closed below.
  const fd = plainDescriptor(socket);
  if (fd !== undefined && socket.writableLength === 0 && nothingUnread(fd) && (unsentOctets(fd) ?? Infinity) <= CLOSE_AT_ONCE_UNSENT_OCTETS) {
    socket.destroy();
    return;
  }
  socket.removeAllListeners("data");
  let dropped = 0;
  socket.on("data", (chunk: Uint8Array) => {
    dropped += chunk.length;
    if (dropped > MAX_UNREAD_INPUT_OCTETS) socket.destroy();
  });
  socket.end();
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.once("close", () => clearTimeout(timer));
}

/**
 * What the kernel may still hold for the client (sent, not yet acknowledged) when a finished
 * connection is closed at once: the last answers of a session (QUIT's +OK, an -ERR), never a
 * message a slow client is still taking, which a reset would cut off.
 */
export const CLOSE_AT_ONCE_UNSENT_OCTETS = 4096;

/** The descriptor of a plain (not TLS) socket; undefined for TLS, whose end says close_notify first. */
function plainDescriptor(socket: net.Socket): number | undefined {
  if ((socket as { encrypted?: boolean }).encrypted === true) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

const oneOctet = new Uint8Array(1);
/** Whether the kernel holds no input for socket `fd` (its end of input counts as none); false when it cannot tell. */
function nothingUnread(fd: number): boolean {
  try {
    return peekSocket(fd, oneOctet) <= 0;
  } catch {
    return false;
  }
}

/** A session's first output buffer; it grows as answers need (up to the SocketOutput's capacity). */
const FIRST_BUFFER_OCTETS = 4096;

/**
 * Output a session may leave queued in the socket (beyond what the kernel took) before it
 * waits for the client to take it: mid-answer (RETR) and before reading the next command.
 * A client that pipelines commands and never reads thus stops being read itself (its input
 * stays unread, the socket pauses at MAX_UNREAD_INPUT_OCTETS): one connection holds at most
 * about this much output plus that much input, whatever it sends.
 */
export const QUEUED_OUTPUT_OCTETS = 1 << 20;

/** The same bound before login, where no answer is longer than a CAPA list. */
export const LOGIN_QUEUED_OUTPUT_OCTETS = 64 * 1024;
/**
 * The login's output buffer: its answers are one line each (RFC 1939 section 3: 512 octets at
 * most) or a CAPA list, and a buffer is taken per batch of answers, so a small one is less
 * garbage per login (a longer batch is written in pieces).
 */
export const LOGIN_OUTPUT_OCTETS = 1024;

/**
 * The kernel's receive buffer of an --inline connection (SO_RCVBUF; Linux doubles it): what a
 * client can have sent that nobody reads yet, beside MAX_UNREAD_INPUT_OCTETS in the process.
 * POP3 clients send short commands, so this costs them nothing.
 */
export const RECEIVE_BUFFER_OCTETS = 32 * 1024;

/**
 * Responses gathered into large writes; the buffer is dropped after each batch of answers
 * (idle sessions hold none). On a plain connection (`fd` given) a write goes straight to
 * the descriptor while the socket has nothing queued, and the buffer is kept for the next
 * piece of the same answer: a RETR of many messages then costs one write(2) per chunk and no
 * allocation, instead of a trip through the socket's write queue per chunk. Whatever the
 * kernel does not take at once (a slow client) goes to the socket's queue, so the order of
 * bytes is kept and drained() waits for the client as before.
 */
export class SocketOutput {
  buf: Uint8Array = EMPTY;
  length = 0;
  /** Octets written to the socket. */
  written = 0;
  /** The client took nothing for the whole timeout and was dropped. */
  timedOut = false;
  #closing = false;

  /**
   * `timeoutMs`: how long the client may take nothing before the connection is closed (qmail's timeoutwrite).
   * `fd`: the plain socket's descriptor, for direct writes (undefined for TLS).
   * `queueBound`: the output left queued before room() waits for the client.
   */
  constructor(
    private readonly socket: net.Socket,
    private readonly capacity: number,
    private readonly timeoutMs: number,
    private readonly fd?: number,
    private readonly queueBound = QUEUED_OUTPUT_OCTETS,
  ) {}

  /** Whether the connection is gone (nothing more can be sent). */
  get closed(): boolean {
    return this.socket.destroyed;
  }

  /**
   * Makes sure `n` octets fit after `length`. The buffer starts small and grows (by copying) up
   * to `capacity`, so a session's short answers never cost a zeroed buffer of the full size
   * (that allocation was a fifth of a login's CPU); past `capacity` what is gathered is written out.
   */
  reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    if (need <= this.capacity) {
      const bigger = new Uint8Array(Math.min(this.capacity, Math.max(need, this.buf.length * 4, FIRST_BUFFER_OCTETS)));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
      return;
    }
    this.flush(true);
    if (n <= this.buf.length) return;
    this.buf = new Uint8Array(Math.max(this.capacity, n));
  }

  put(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /**
   * Writes what is gathered. `keep`: more of the same answer follows, so a buffer the kernel
   * took in full is kept for it; otherwise (the end of a batch) it is let go.
   */
  flush(keep = false): void {
    if (this.length === 0) return;
    let chunk = this.buf.subarray(0, this.length);
    this.written += this.length;
    this.length = 0;
    if (this.socket.destroyed) {
      if (!keep) this.buf = EMPTY;
      return;
    }
    if (this.fd !== undefined && this.socket.writableLength === 0) {
      const sent = this.#writeDirect(chunk);
      if (sent === chunk.length) {
        if (!keep) this.buf = EMPTY;
        return;
      }
      if (sent < 0) return;
      chunk = chunk.subarray(sent);
    }
    // The socket keeps the buffer until it is sent, so a new one is taken next.
    this.buf = EMPTY;
    this.socket.write(chunk);
  }

  /**
   * What is written from now on is the session's last output, and the connection is closed
   * (or shut down) right after it: on a plain connection it goes with MSG_MORE, so the kernel
   * sends it with the FIN in one segment. The peer (a proxy, a client on another CPU or
   * machine) is then woken once for both instead of once for each.
   */
  closing(): void {
    this.#closing = true;
  }

  /** write(2) on the non-blocking descriptor: octets taken (0 when the kernel's buffer is full), -1 once the connection failed. */
  #writeDirect(chunk: Uint8Array): number {
    const sent = writeAvailable(this.fd!, chunk, this.#closing);
    if (sent < 0) {
      this.buf = EMPTY;
      this.socket.destroy(); // EPIPE, ECONNRESET: the client is gone
    }
    return sent;
  }

  /**
   * Mid-answer: waits while more than QUEUED_OUTPUT_OCTETS is queued. Letting a few chunks queue
   * saves an event-loop round trip per chunk (and the socket idling meanwhile); the bound keeps
   * a session's queued output at about 1 MiB.
   */
  async drained(): Promise<void> {
    if (this.socket.writableLength >= QUEUED_OUTPUT_OCTETS) await this.#clientTakes();
  }

  /** Whether less than `queueBound` octets wait for the client: room() would not wait. */
  get hasRoom(): boolean {
    return this.socket.writableLength + this.length < this.queueBound;
  }

  /**
   * Before the next command of a pipelined batch: while `queueBound` octets or more wait for
   * the client, waits for it to take them (the input is not read meanwhile).
   */
  async room(): Promise<void> {
    if (this.hasRoom) return;
    this.flush(true);
    // Only what the kernel did not take waits in the socket's queue, and only then comes a "drain".
    if (this.socket.writableLength >= this.queueBound) await this.#clientTakes();
  }

  /**
   * The end of a batch of answers: writes what is gathered and waits until the socket's queue is
   * down to its high-water mark, before the session waits for the client's next command, whose
   * own timeout then starts (as qmail's timeoutread starts after the last write). The socket
   * emits "drain" only after a write that overfilled it: writableNeedDrain.
   */
  async sent(): Promise<void> {
    this.flush();
    if (this.socket.writableNeedDrain) await this.#clientTakes();
  }

  /**
   * Waits for "drain". A client that takes nothing for the whole timeout is dropped; one that
   * keeps taking, however slowly, is not (qmail's timeoutwrite bounds each write(2), that is the
   * time without progress, not the whole download).
   */
  async #clientTakes(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      // Progress: our queue shrank, or (plain connections) the kernel's unacknowledged octets did;
      // Bun reports its queue in large steps, the kernel's send buffer can hold megabytes.
      const pending = () => this.socket.writableLength + (this.fd === undefined ? 0 : unsentOctets(this.fd) ?? 0);
      let queued = pending();
      let progressAt = performance.now();
      const step = Math.max(10, Math.min(1000, this.timeoutMs / 4));
      const done = () => {
        clearInterval(timer);
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      // Watch the queue going out: the client's time without progress is what counts.
      const timer = setInterval(() => {
        const now = performance.now();
        const left = pending();
        if (left < queued) progressAt = now;
        queued = left;
        if (now - progressAt >= this.timeoutMs) {
          this.timedOut = true;
          this.socket.destroy();
        }
      }, step);
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }
}

const peekBuffer = new Uint8Array(1024);
/**
 * Whether a whole command line waits in the kernel for socket `fd` (one recv with
 * MSG_PEEK|MSG_DONTWAIT): then reading it never waits for the client. A piece of a line (or
 * a TLS ClientHello sent to the plain port) does not count: such a client is greeted at once.
 */
function kernelHasLine(fd: number): boolean {
  try {
    const n = peekSocket(fd, peekBuffer);
    return n > 0 && peekBuffer.subarray(0, n).includes(LF);
  } catch {
    return false;
  }
}

/** The connection of a session in its AUTHORIZATION state; `input` and `out` are replaced after STLS. */
export interface LoginIo {
  input: SocketLines;
  out: SocketOutput;
  /** The plain socket's descriptor (undefined over TLS). */
  fd?: number;
}

/**
 * STLS, before its +OK: drops what the client sent that the session has not read (plaintext it
 * pipelined), from the lines' buffer, the runtime's read-ahead and the kernel (at most 1 MiB,
 * without waiting), as popup on a descriptor does; the handshake then starts from the client's hello.
 */
export function discardPlainInput(input: SocketLines, fd: number | undefined): void {
  input.detach();
  if (fd !== undefined) drainPendingInput(fd);
}

/**
 * popup's byte-exact line read over a socket of serve's event loop, as the login loop
 * (mod/session's servePopup) reads: what is gathered is written out when the client has no
 * further command waiting, and a client that pipelines without reading is not read either
 * (bounded output). A client that sent its login before the greeting (a proxy tier's pipelined
 * USER and PASS) gets the greeting with the answers to them, in one write: at the first read
 * the greeting is held back while the kernel has a whole line that the socket has not passed on yet.
 */
export function socketLoginRead(io: LoginIo): (buf: Uint8Array) => Promise<number> {
  let firstRead = true;
  return async (buf) => {
    if (io.out.closed) return 0; // the client is gone: what it pipelined is not answered
    const pipelinedAhead = firstRead && !io.input.hasLine && io.fd !== undefined && kernelHasLine(io.fd);
    firstRead = false;
    if (!pipelinedAhead) {
      if (!io.input.hasLine) await io.out.sent();
      else await io.out.room();
    }
    return io.input.readToLineEnd(buf);
  };
}

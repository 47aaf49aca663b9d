/**
 * Synchronous reads and writes on the client connection (fds 0 and 1, a socket or
 * pipes), each bounded by the read/write timeout as qmail's timeoutread/timeoutwrite.
 * A popup or pop3d process serves one client, so blocking calls are the simple and
 * fast way; poll(2) makes every wait bounded and copes with non-blocking fds.
 */
import { fstatSync, readSync, writeSync } from "node:fs";
import { POLLIN, POLLOUT, drainPendingInput, peekSocket, pollFd, sendNow } from "../sys/poll.ts";
import { sysErrorCode } from "../base/errors.ts";
import type { Watchdog } from "../sys/watchdog.ts";

/** The client sent nothing (or took nothing) for the whole timeout. */
export class ClientTimeout extends Error {
  constructor() {
    super("timed out");
    this.name = "ClientTimeout";
  }
}

/** The connection broke (reset, EPIPE) while writing. */
export class ClientGone extends Error {
  constructor(why: string) {
    super(why);
    this.name = "ClientGone";
  }
}

const LF = 0x0a;

function isSocket(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
  } catch {
    return false;
  }
}

/** The client connection as the session drivers use it (FdChannel, or an in-memory one in tests). */
export interface Channel {
  /** Reads what is there (up to buf.length); 0 at the end of the stream. */
  read(buf: Uint8Array): number;
  /** Reads up to and including the next LF and never beyond; 0 at the end of the stream. */
  readToLineEnd(buf: Uint8Array): number;
  /** Writes all of `bytes`. */
  write(bytes: Uint8Array): void;
}

export class FdChannel implements Channel {
  readonly #in: number;
  readonly #out: number;
  readonly #timeoutMs: number;
  readonly #inIsSocket: boolean;
  readonly #outIsSocket: boolean;
  readonly #watchdog: Watchdog | undefined;

  /**
   * `watchdog`: the session process's (mod/sys/watchdog.ts), restarted before and after each
   * exchange with the client, so only the session's own work between two exchanges is timed.
   */
  constructor(inFd: number, outFd: number, timeoutMs: number, watchdog?: Watchdog) {
    this.#in = inFd;
    this.#out = outFd;
    this.#timeoutMs = timeoutMs;
    this.#watchdog = watchdog;
    this.#inIsSocket = isSocket(inFd);
    this.#outIsSocket = isSocket(outFd);
  }

  #waitReadable(): void {
    this.#watchdog?.kick();
    if (pollFd(this.#in, POLLIN, this.#timeoutMs) === "timeout") throw new ClientTimeout();
    this.#watchdog?.kick();
  }

  /** Reads what is there (up to buf.length); 0 means the client closed the connection. */
  read(buf: Uint8Array): number {
    for (;;) {
      this.#waitReadable();
      try {
        return readSync(this.#in, buf, 0, buf.length, null);
      } catch (err) {
        const code = sysErrorCode(err);
        if (code === "EAGAIN" || code === "EINTR") continue;
        if (code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE") return 0;
        throw err;
      }
    }
  }

  /**
   * Reads up to and including the next LF, never beyond it, so whatever the client
   * sent after this line stays unread for the next program. On a socket this peeks
   * (MSG_PEEK) and then reads exactly the bytes of the line; on a pipe it reads
   * one octet at a time. Returns the count read into buf (0 at end of stream); the
   * line may need several calls when it is longer than buf.
   */
  readToLineEnd(buf: Uint8Array): number {
    if (!this.#inIsSocket) return this.read(buf.subarray(0, 1));
    for (;;) {
      this.#waitReadable();
      let peeked: number;
      try {
        peeked = peekSocket(this.#in, buf);
      } catch (err) {
        const code = sysErrorCode(err);
        if (code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE") return 0;
        throw err;
      }
      if (peeked < 0) continue;
      if (peeked === 0) return 0;
      const lf = buf.subarray(0, peeked).indexOf(LF);
      const want = lf >= 0 ? lf + 1 : peeked;
      let got = 0;
      while (got < want) {
        const n = this.read(buf.subarray(got, want));
        if (n === 0) return got;
        got += n;
      }
      return got;
    }
  }

  /**
   * Drops what the peer already sent and readToLineEnd left unread (plaintext pipelined after
   * STLS), without waiting; nothing on a pipe, which is never the client's own connection.
   */
  discardPending(): void {
    if (this.#inIsSocket) drainPendingInput(this.#in);
  }

  /**
   * Writes all of `bytes`, waiting at most the timeout each time the peer takes nothing (qmail's
   * timeoutwrite). On a socket each piece is sent without waiting (sendNow), also on the
   * blocking socket tcpserver and serve hand over, where a write(2) of the whole piece would
   * wait for the client out of the timeout's reach; every piece the client took restarts the
   * watchdog, so a download that is slow but moving is never ended by it.
   */
  write(bytes: Uint8Array): void {
    let rest = bytes;
    while (rest.length > 0) {
      let n: number;
      try {
        n = this.#outIsSocket ? sendNow(this.#out, rest) : writeSync(this.#out, rest);
      } catch (err) {
        const code = sysErrorCode(err);
        if (code !== "EAGAIN" && code !== "EINTR") throw new ClientGone(code ?? String(err));
        n = -1;
      }
      if (n < 0) {
        this.#watchdog?.kick();
        if (pollFd(this.#out, POLLOUT, this.#timeoutMs) === "timeout") throw new ClientTimeout();
        continue;
      }
      rest = rest.subarray(n);
      this.#watchdog?.kick();
    }
  }

}

/**
 * Gathers responses and writes them in large chunks: `flush()` once per batch of
 * answers, and automatically when a chunk is full (message streaming).
 */
export class OutputBuffer {
  readonly buf: Uint8Array;
  length = 0;
  readonly #channel: Channel;

  constructor(channel: Channel, capacity: number) {
    this.#channel = channel;
    this.buf = new Uint8Array(capacity);
  }

  /** Makes sure `n` octets fit after `length`, flushing first if needed. */
  reserve(n: number): void {
    if (this.length + n > this.buf.length) this.flush();
    if (n > this.buf.length) throw new Error(`output reservation ${n} exceeds buffer ${this.buf.length}`);
  }

  put(bytes: Uint8Array): void {
    if (bytes.length > this.buf.length) {
      this.flush();
      this.#channel.write(bytes);
      return;
    }
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  flush(): void {
    if (this.length === 0) return;
    const chunk = this.buf.subarray(0, this.length);
    this.length = 0;
    this.#channel.write(chunk);
  }
}

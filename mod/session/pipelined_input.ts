/**
 * Commands a client pipelined after PASS (RFC 2449 PIPELINING), when serve --inline hands
 * the connection to a user process: serve has already read them off the socket, so they
 * travel to that pop3d in POPPIN_PIPELINED (base64, bounded) and are read before the socket.
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import { ENV } from "../base/env.ts";
import type { Channel } from "../pop3/fd_channel.ts";

export const PIPELINED_VARIABLE: string = ENV.pipelined.name;
/** Enough for any honest batch of commands (RFC 2449 section 6.6 lets a client fill a window). */
export const MAX_PIPELINED_OCTETS = 16 * 1024;
/**
 * More than that (a client may fill its whole window, and serve holds up to its input bound
 * plus one read) travels on a sealed memory file whose inherited descriptor this names.
 */
export const PIPELINED_FD_VARIABLE: string = ENV.pipelinedFd.name;
/** Far above what serve --inline ever holds unread for one connection (socket_io.ts). */
export const MAX_PIPELINED_FD_OCTETS = 1 << 20;

const LF = 0x0a;

class PreloadedChannel implements Channel {
  #rest: Uint8Array;
  constructor(private readonly inner: Channel, bytes: Uint8Array) {
    this.#rest = bytes;
  }
  read(buf: Uint8Array): number {
    if (this.#rest.length === 0) return this.inner.read(buf);
    const n = Math.min(buf.length, this.#rest.length);
    buf.set(this.#rest.subarray(0, n));
    this.#rest = this.#rest.subarray(n);
    return n;
  }
  readToLineEnd(buf: Uint8Array): number {
    if (this.#rest.length === 0) return this.inner.readToLineEnd(buf);
    const lf = this.#rest.indexOf(LF);
    return this.read(buf.subarray(0, lf >= 0 ? Math.min(buf.length, lf + 1) : buf.length));
  }
  write(bytes: Uint8Array): void {
    this.inner.write(bytes);
  }
}

/** What the descriptor POPPIN_PIPELINED_FD names holds (closed here); empty when it names none or cannot be read. */
function pipelinedFromFd(env: NodeJS.ProcessEnv): Uint8Array {
  const text = env[PIPELINED_FD_VARIABLE];
  if (text === undefined || !/^[0-9]{1,4}$/.test(text)) return new Uint8Array(0);
  const fd = Number(text);
  try {
    const size = fstatSync(fd).size;
    if (size === 0 || size > MAX_PIPELINED_FD_OCTETS) return new Uint8Array(0);
    const bytes = new Uint8Array(size);
    for (let got = 0; got < size;) {
      const n = readSync(fd, bytes, got, size - got, got);
      if (n === 0) return bytes.subarray(0, got);
      got += n;
    }
    return bytes;
  } catch {
    return new Uint8Array(0);
  } finally {
    try {
      closeSync(fd);
    } catch {
      // not open
    }
  }
}

/** The channel, reading first what POPPIN_PIPELINED (or POPPIN_PIPELINED_FD) carries (if anything). */
export function withPipelinedInput(channel: Channel, env: NodeJS.ProcessEnv): Channel {
  const fromFd = pipelinedFromFd(env);
  if (fromFd.length > 0) return new PreloadedChannel(channel, fromFd);
  const text = env[PIPELINED_VARIABLE];
  if (text === undefined || text === "") return channel;
  const bytes = Buffer.from(text, "base64");
  if (bytes.length === 0 || bytes.length > MAX_PIPELINED_OCTETS) return channel;
  return new PreloadedChannel(channel, new Uint8Array(bytes));
}

/** The variable's value for `bytes`, or undefined when there is nothing (or too much) to pass. */
export function pipelinedValue(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > MAX_PIPELINED_OCTETS) return undefined;
  return Buffer.from(bytes).toString("base64");
}

/** In-memory stand-ins for the POP3 drivers' channel and mailbox (unit tests of the engine). */
import type { Channel } from "../../mod/pop3/fd_channel.ts";
import type { Mailbox, MessageReader, RemoveResult } from "../../mod/pop3/mailbox.ts";
import type { MessageInfo } from "../../mod/pop3/transaction.ts";
import { crlfSizeOf } from "../../mod/maildir/crlf.ts";

const LF = 0x0a;

/** A client that sends `input` (as chunks) and then closes; collects every write separately. */
export class MemoryChannel implements Channel {
  readonly writes: Uint8Array[] = [];
  #chunks: Uint8Array[];
  /** Thrown by read once the input is used up, instead of returning 0 (e.g. a ClientTimeout). */
  readonly atEnd: Error | undefined;

  constructor(input: (Uint8Array | string)[], atEnd?: Error) {
    this.#chunks = input.map((c) => (typeof c === "string" ? new TextEncoder().encode(c) : c));
    this.atEnd = atEnd;
  }

  read(buf: Uint8Array): number {
    const chunk = this.#chunks.shift();
    if (chunk === undefined) {
      if (this.atEnd) throw this.atEnd;
      return 0;
    }
    const n = Math.min(buf.length, chunk.length);
    buf.set(chunk.subarray(0, n), 0);
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return n;
  }

  readToLineEnd(buf: Uint8Array): number {
    const chunk = this.#chunks[0];
    if (chunk === undefined) return this.read(buf);
    const lf = chunk.indexOf(LF);
    const want = Math.min(buf.length, lf >= 0 ? lf + 1 : chunk.length);
    return this.read(buf.subarray(0, want));
  }

  /** Bytes not yet read: what the next program in the chain would get. */
  get unread(): string {
    return this.#chunks.map((c) => Buffer.from(c).toString("latin1")).join("");
  }

  write(bytes: Uint8Array): void {
    this.writes.push(bytes.slice());
  }

  get output(): string {
    return this.writes.map((w) => Buffer.from(w).toString("latin1")).join("");
  }
}

/** Messages in memory; `vanished` ones fail to open as if another session removed them. */
export class MemoryMailbox implements Mailbox {
  readonly messages: MessageInfo[];
  readonly bodies: Uint8Array[];
  readonly removed: number[][] = [];
  readonly vanished = new Set<number>();

  /** `readSize`: the most one read returns (small on purpose: the encoder must not care where chunks end). */
  constructor(bodies: (Uint8Array | string)[], sizeOf: (b: Uint8Array) => number = crlfSizeOf, readonly readSize = 7777) {
    this.bodies = bodies.map((b) => (typeof b === "string" ? Buffer.from(b, "latin1") : b));
    this.messages = this.bodies.map((b, i) => ({ size: sizeOf(b), uidl: `uid${i + 1}` }));
  }

  open(index: number): MessageReader {
    if (this.vanished.has(index)) throw Object.assign(new Error("gone"), { code: "ENOENT" });
    let body = this.bodies[index]!;
    const size = this.readSize;
    return {
      read(buf: Uint8Array): number {
        const n = Math.min(buf.length, body.length, size);
        buf.set(body.subarray(0, n), 0);
        body = body.subarray(n);
        return n;
      },
      close() {},
    };
  }

  remove(indices: readonly number[]): RemoveResult {
    this.removed.push([...indices]);
    return { removed: indices.length, unremoved: 0, problems: [] };
  }
}

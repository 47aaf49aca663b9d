/**
 * Splits a POP3 client's byte stream into command lines, bounded (RFC 2449: 255
 * octets including CRLF). CRLF or a bare LF ends a line. A longer line is
 * discarded as it arrives (memory stays bounded) and reported once, when its LF
 * comes, so the answers stay in step with the client's commands.
 */
import { MAX_COMMAND_OCTETS } from "./limits.ts";

export type FramedLine =
  | { kind: "line"; bytes: Uint8Array }
  | { kind: "too-long" };

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = new Uint8Array(0);

export class LineFramer {
  #pending: Uint8Array = new Uint8Array(0);
  #overflow = false;
  readonly #max: number;

  constructor(maxOctets = MAX_COMMAND_OCTETS) {
    this.#max = maxOctets;
  }

  /** Adds bytes received from the client. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const joined = new Uint8Array(this.#pending.length + bytes.length);
    joined.set(this.#pending, 0);
    joined.set(bytes, this.#pending.length);
    this.#pending = joined;
    this.#trimOverflow();
  }

  /** The next complete line (without its CRLF or LF), or undefined until more bytes come. */
  next(): FramedLine | undefined {
    const pending = this.#pending;
    const lf = pending.indexOf(LF);
    if (lf < 0) return undefined;
    // The last line held leaves nothing behind, and no view of it is made (a view of a new small
    // array costs four times a copy of a command line).
    this.#pending = lf + 1 === pending.length ? EMPTY : pending.subarray(lf + 1);
    if (this.#overflow || lf + 1 > this.#max) {
      this.#overflow = false;
      this.#trimOverflow();
      return { kind: "too-long" };
    }
    this.#trimOverflow();
    const end = lf > 0 && pending[lf - 1] === CR ? lf - 1 : lf;
    return { kind: "line", bytes: pending.slice(0, end) };
  }

  /** Drops everything held (bytes from before a TLS upgrade must never be executed after it). */
  clear(): void {
    this.#pending = new Uint8Array(0);
    this.#overflow = false;
  }

  /** Octets held for an incomplete line. */
  get buffered(): number {
    return this.#pending.length;
  }

  /** Whether complete lines are waiting (pipelined commands). */
  get hasLine(): boolean {
    return this.#pending.indexOf(LF) >= 0;
  }

  #trimOverflow(): void {
    // Keep at most one line's worth when no LF has come: the rest of an overlong line is dropped.
    if (this.#pending.indexOf(LF) >= 0) return;
    if (this.#pending.length > this.#max) {
      this.#overflow = true;
      this.#pending = new Uint8Array(0);
    }
  }
}

/**
 * popup's client connection once TLS is on: line reads and writes over a TLSSocket,
 * each bounded by the read timeout (qmail's timeoutread), plus handing the stream to
 * the checkpassword chain (relay.ts) and taking it back when the login failed.
 */
import type tls from "node:tls";
import { ClientGone, ClientTimeout } from "../pop3/fd_channel.ts";
import type { PopupChannel } from "../pop3/popup_server.ts";
import type { ChannelBindingType } from "../sasl/scram.ts";
import { channelBindingData } from "./channel_binding.ts";

const LF = 0x0a;

export class TlsChannel implements PopupChannel {
  readonly socket: tls.TLSSocket;
  readonly #timeoutMs: number;
  #pending: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    this.socket.pause(); // read only as far as popup asks: the rest may be for the chain
    this.#wake?.();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };

  constructor(socket: tls.TLSSocket, timeoutMs: number) {
    this.socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.on("error", () => this.#onEnd());
    socket.on("close", this.#onEnd);
    socket.on("end", this.#onEnd);
    this.attach(new Uint8Array(0));
  }

  /** Starts reading for popup again, `leftover` first (bytes the chain did not take). */
  attach(leftover: Uint8Array): void {
    if (leftover.length > 0) this.#pending = Buffer.concat([Buffer.from(leftover), this.#pending]);
    this.socket.on("data", this.#onData);
    this.socket.pause();
  }

  /** Stops reading for popup; returns what was received but not yet read (it belongs to the chain). */
  detach(): Buffer {
    this.socket.removeListener("data", this.#onData);
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return rest;
  }

  channelBinding(type: ChannelBindingType): Uint8Array | undefined {
    return channelBindingData(this.socket, type);
  }

  async readToLineEnd(buf: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#pending.length > 0) {
        const lf = this.#pending.indexOf(LF);
        const n = Math.min(lf >= 0 ? lf + 1 : this.#pending.length, buf.length);
        buf.set(this.#pending.subarray(0, n));
        this.#pending = this.#pending.subarray(n);
        return n;
      }
      if (this.#ended) return 0;
      await this.#waitForData();
    }
  }

  #waitForData(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        reject(new ClientTimeout());
      }, this.#timeoutMs);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      this.socket.resume();
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(new ClientGone("connection closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClientTimeout()), this.#timeoutMs);
      this.socket.write(bytes, (e) => {
        clearTimeout(timer);
        if (e) reject(new ClientGone(e.message));
        else resolve();
      });
    });
  }

  /** Ends the TLS session cleanly (close_notify, then FIN) and waits, bounded, for it to go out. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      const timer = setTimeout(() => { this.socket.destroy(); resolve(); }, 5000);
      this.socket.end(() => { clearTimeout(timer); resolve(); });
    });
  }
}

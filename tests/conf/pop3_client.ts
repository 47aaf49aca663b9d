/** A small POP3 client for the service tests: send a line, read one reply or a multi-line one. */
import { connect, type Socket } from "node:net";

export class Pop3Client {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #closed = false;
  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => { this.#buf = Buffer.concat([this.#buf, d]); this.#wake(); });
    socket.on("close", () => { this.#closed = true; this.#wake(); });
    socket.on("error", () => { this.#closed = true; this.#wake(); });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  static open(port: number, host = "127.0.0.1", timeoutMs = 5000): Promise<Pop3Client> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host });
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${port} timed out`)); }, timeoutMs);
      s.once("connect", () => { clearTimeout(timer); resolve(new Pop3Client(s)); });
      s.once("error", (e) => { clearTimeout(timer); reject(e); });
    });
  }

  /** Waits until `done(buffer)` gives a length to take, the peer closes, or the time is up. */
  async #take(done: (b: Buffer) => number, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = done(this.#buf);
      if (n > 0) {
        const out = this.#buf.subarray(0, n).toString("latin1");
        this.#buf = this.#buf.subarray(n);
        return out;
      }
      if (this.#closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in ${timeoutMs} ms; have ${JSON.stringify(this.#buf.toString("latin1"))}`);
      await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, left); });
    }
  }

  /** One reply line (undefined when the server closed without one). */
  line(timeoutMs = 5000): Promise<string | undefined> {
    return this.#take((b) => { const i = b.indexOf("\r\n"); return i < 0 ? 0 : i + 2; }, timeoutMs);
  }

  multi(timeoutMs = 5000): Promise<string | undefined> {
    return this.#take((b) => {
      if (b.subarray(0, 4).toString() === "-ERR") { const i = b.indexOf("\r\n"); return i < 0 ? 0 : i + 2; }
      const i = b.indexOf("\r\n.\r\n");
      return i < 0 ? 0 : i + 5;
    }, timeoutMs);
  }

  async command(line: string, timeoutMs = 5000): Promise<string | undefined> {
    this.socket.write(`${line}\r\n`);
    return this.line(timeoutMs);
  }

  async closed(timeoutMs = 5000): Promise<boolean> {
    await this.#take(() => 0, timeoutMs).catch(() => undefined);
    return this.#closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A free TCP port on loopback (bound, then released). */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

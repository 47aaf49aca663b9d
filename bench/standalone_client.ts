/**
 * A small POP3 load client for the standalone benchmarks: a connection that reads
 * single-line and multi-line answers, and the scenario loops built on it (login rate at
 * a concurrency, pipelined RETR, timed STAT/UIDL/LIST, idle sessions, DELE + QUIT).
 */
import net from "node:net";

const CRLF_DOT_CRLF = Buffer.from("\r\n.\r\n");

export class Pop3Connection {
  #buf: Buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #closed = false;
  octets = 0;
  /** Count what arrives without keeping it (bulk downloads). */
  discard = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (c: Buffer) => {
      this.octets += c.length;
      if (this.discard) return;
      this.#buf = this.#buf.length === 0 ? c : Buffer.concat([this.#buf, c]);
      this.#poke();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#poke();
    });
    socket.on("error", () => {});
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  static connect(port: number, host = "127.0.0.1", timeoutMs = 60_000): Promise<Pop3Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => {
        socket.setNoDelay(true);
        socket.off("error", reject);
        clearTimeout(timer);
        resolve(new Pop3Connection(socket));
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("connect timed out"));
      }, timeoutMs);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  async #waitFor(find: () => number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = find();
      if (end >= 0) {
        const out = this.#buf.subarray(0, end);
        this.#buf = this.#buf.subarray(end);
        return out;
      }
      if (this.#closed) throw new Error(`connection closed; pending: ${this.#buf.subarray(0, 200).toString("latin1")}`);
      if (Date.now() > deadline) throw new Error("answer timed out");
      // The timer goes with the wait: one left pending (up to 10 minutes for a big Maildir's PASS)
      // kept the bench process alive that long after its last line.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
      });
      clearTimeout(timer);
    }
  }

  /** One status line ("+OK ..." or "-ERR ..."). */
  async line(timeoutMs = 60_000): Promise<string> {
    const b = await this.#waitFor(() => {
      const i = this.#buf.indexOf("\r\n");
      return i < 0 ? -1 : i + 2;
    }, timeoutMs);
    return b.toString("latin1");
  }

  /** A multi-line answer (status line through the "." line); a -ERR line alone. */
  async multi(timeoutMs = 120_000): Promise<Buffer> {
    return this.#waitFor(() => {
      if (this.#buf.length > 0 && this.#buf[0] === 0x2d) {
        const i = this.#buf.indexOf("\r\n");
        return i < 0 ? -1 : i + 2;
      }
      const i = this.#buf.indexOf(CRLF_DOT_CRLF);
      return i < 0 ? -1 : i + CRLF_DOT_CRLF.length;
    }, timeoutMs);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async command(text: string): Promise<string> {
    this.send(`${text}\r\n`);
    return this.line();
  }

  /** Greeting, USER, PASS; throws unless all are +OK. */
  async login(user: string, password: string): Promise<void> {
    const greeting = await this.line();
    if (!greeting.startsWith("+OK")) throw new Error(`greeting: ${greeting}`);
    const u = await this.command(`USER ${user}`);
    if (!u.startsWith("+OK")) throw new Error(`USER: ${u}`);
    const p = await this.command(`PASS ${password}`);
    if (!p.startsWith("+OK")) throw new Error(`PASS: ${p}`);
  }

  /** Waits for the server to close the connection. */
  async closed(timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error("no close");
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * connect, `login`, STAT, QUIT as fast as possible at `concurrency` for `durationMs`:
 * sessions/s, the failed sessions and the first failure's message.
 */
export async function sessionRate(port: number, login: (c: Pop3Connection) => Promise<void>, concurrency: number, durationMs: number): Promise<{ rate: number; errors: number; firstError?: string }> {
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      let c: Pop3Connection | undefined;
      try {
        c = await Pop3Connection.connect(port);
        await login(c);
        const stat = await c.command("STAT");
        if (!stat.startsWith("+OK")) throw new Error(stat);
        await c.command("QUIT");
        done++;
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      } finally {
        c?.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rate: done / ((performance.now() - started) / 1000), errors, firstError };
}

/** connect, USER, PASS, STAT, QUIT as fast as possible at `concurrency` for `durationMs`: sessions/s. */
export async function loginRate(port: number, user: string, password: string, concurrency: number, durationMs: number): Promise<{ rate: number; errors: number }> {
  return sessionRate(port, (c) => c.login(user, password), concurrency, durationMs);
}

/** One session: RETR 1..count pipelined, then QUIT; milliseconds from the first RETR to the close. */
export async function retrAll(port: number, user: string, password: string, count: number): Promise<{ ms: number; octets: number }> {
  const c = await Pop3Connection.connect(port);
  await c.login(user, password);
  const before = c.octets;
  c.discard = true;
  const started = performance.now();
  let commands = "";
  for (let i = 1; i <= count; i++) commands += `RETR ${i}\r\n`;
  c.send(commands + "QUIT\r\n");
  await c.closed();
  return { ms: performance.now() - started, octets: c.octets - before };
}

/** PASS to the +OK of STAT, then a full UIDL and a full LIST, timed. */
export async function statTimes(port: number, user: string, password: string): Promise<{ stat: string; statMs: number; uidlMs: number; listMs: number }> {
  const c = await Pop3Connection.connect(port);
  await c.line();
  await c.command(`USER ${user}`);
  let t = performance.now();
  c.send(`PASS ${password}\r\n`);
  const pass = await c.line(600_000);
  if (!pass.startsWith("+OK")) throw new Error(`PASS: ${pass}`);
  const stat = await c.command("STAT");
  const statMs = performance.now() - t;
  t = performance.now();
  c.send("UIDL\r\n");
  await c.multi();
  const uidlMs = performance.now() - t;
  t = performance.now();
  c.send("LIST\r\n");
  await c.multi();
  const listMs = performance.now() - t;
  await c.command("QUIT");
  c.destroy();
  return { stat: stat.trim(), statMs, uidlMs, listMs };
}

/** DELE 1..count pipelined and QUIT; milliseconds to the QUIT answer. */
export async function deleAll(port: number, user: string, password: string, count: number): Promise<{ ms: number; quit: string }> {
  const c = await Pop3Connection.connect(port);
  await c.login(user, password);
  const started = performance.now();
  let commands = "";
  for (let i = 1; i <= count; i++) commands += `DELE ${i}\r\n`;
  c.send(commands + "QUIT\r\n");
  for (let i = 0; i < count; i++) {
    const l = await c.line();
    if (!l.startsWith("+OK")) throw new Error(`DELE: ${l}`);
  }
  const quit = await c.line(600_000);
  const ms = performance.now() - started;
  c.destroy();
  return { ms, quit: quit.trim() };
}

/** Opens `count` authenticated idle sessions, `parallel` logins at a time. */
export async function openIdle(port: number, user: string, password: string, count: number, parallel: number): Promise<Pop3Connection[]> {
  const out: Pop3Connection[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const c = await Pop3Connection.connect(port);
      await c.login(user, password);
      out.push(c);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

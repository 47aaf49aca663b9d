/** Talking to a POP3 program in tests: over pipes (a spawned process) or a TCP socket, every wait bounded. */
import { connect, type Socket } from "node:net";
import { createServer } from "node:net";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class Conversation {
  #buffer = "";
  #waiters: (() => void)[] = [];
  #ended = false;
  readonly #write: (data: string | Uint8Array) => void;
  readonly #close: () => void;

  constructor(write: (data: string | Uint8Array) => void, close: () => void) {
    this.#write = write;
    this.#close = close;
  }

  /** Feeds received bytes (latin1, so any octet survives). */
  received(chunk: Uint8Array): void {
    this.#buffer += Buffer.from(chunk).toString("latin1");
    this.#wake();
  }

  ended(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  send(data: string | Uint8Array): void {
    this.#write(data);
  }

  close(): void {
    this.#close();
  }

  /** Everything received so far. */
  get text(): string {
    return this.#buffer;
  }

  /** Waits until the received text (from the start) holds `count` matches of `pattern`. */
  waitFor(pattern: string | RegExp, timeoutMs = 10_000, count = 1): Promise<string> {
    const matches = () => {
      if (typeof pattern === "string") return this.#buffer.split(pattern).length - 1 >= count;
      return (this.#buffer.match(new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g")) ?? []).length >= count;
    };
    return this.#waitUntil(matches, String(pattern), timeoutMs, true);
  }

  /** Waits for the end of the connection (the other side closed). */
  waitEnd(timeoutMs = 10_000): Promise<string> {
    return this.#waitUntil(() => this.#ended, "the end", timeoutMs, false);
  }

  async #waitUntil(done: () => boolean, what: string, timeoutMs: number, endIsFailure: boolean): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (endIsFailure && this.#ended) throw new Error(`connection ended before ${what}; got ${JSON.stringify(this.#buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#buffer;
  }
}

export interface ProcessConversation {
  talk: Conversation;
  proc: ReturnType<typeof Bun.spawn>;
  stderr: () => Promise<string>;
}

/** Starts `cmd` with pipes for stdin/stdout; stderr is collected. */
export function spawnConversation(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ProcessConversation {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const talk = new Conversation(
    (data) => {
      proc.stdin.write(data);
      proc.stdin.flush();
    },
    () => proc.stdin.end(),
  );
  (async () => {
    for await (const chunk of proc.stdout) talk.received(chunk);
    talk.ended();
  })();
  return { talk, proc, stderr: () => new Response(proc.stderr).text() };
}

/** Connects to 127.0.0.1:port. */
export async function connectConversation(port: number): Promise<{ talk: Conversation; socket: Socket }> {
  const socket = connect({ host: "127.0.0.1", port });
  const talk = new Conversation((data) => socket.write(data), () => socket.end());
  socket.on("data", (chunk: Buffer) => talk.received(chunk));
  socket.on("close", () => talk.ended());
  socket.on("error", () => talk.ended());
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return { talk, socket };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Makes DIR/Maildir with the given messages in new/ (names in delivery order) and returns their names. */
export function makeMaildir(home: string, messages: (string | Uint8Array)[], start = 1700000000): string[] {
  const md = join(home, "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  return messages.map((m, i) => {
    const name = `${start + i}.M${100 + i}P${4000 + i}.test.example`;
    writeFileSync(join(md, "new", name), typeof m === "string" ? Buffer.from(m, "latin1") : m);
    return name;
  });
}

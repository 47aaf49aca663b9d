/**
 * One conversation against one host: the bursts sent one after the other (each once the
 * server has been quiet for a moment), the ending played (wait for the close, half-close,
 * drop), every octet the server wrote kept; then the Maildir as it is on disk.
 */
import { existsSync, readdirSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { fill, type Conversation } from "./generate.ts";

export interface Transcript {
  /** Everything the server wrote, the greeting's timestamp blanked and the login named {login}. */
  text: string;
  /** The socket error seen (ECONNRESET: the server closed with input unread, and a reset may lose answers). */
  error?: string;
  /** Whether the server closed within the bound. */
  closed: boolean;
}

export interface Target {
  port: number;
  login: string;
  password: string;
  apopSecret: string;
}

const QUIET_MS = 60;
const BURST_MS = 5000;
const CLOSE_MS = 6000;

export function converse(t: Target, c: Conversation): Promise<Transcript> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let lastData = performance.now();
    let error: string | undefined;
    let closed = false;
    let finished = false;
    const plain = net.connect({ host: "127.0.0.1", port: t.port, allowHalfOpen: true });
    let sock: net.Socket = plain;
    const onData = (b: Buffer) => {
      chunks.push(b);
      lastData = performance.now();
    };
    const watch = (s: net.Socket) => {
      s.on("data", onData);
      s.on("error", (e: NodeJS.ErrnoException) => {
        error ??= e.code ?? e.message;
      });
      // The server's FIN (allowHalfOpen keeps the socket open until the client ends too).
      s.on("end", () => {
        closed = true;
      });
      s.on("close", () => {
        closed = true;
      });
    };
    watch(plain);
    const done = () => {
      if (finished) return;
      finished = true;
      const raw = Buffer.concat(chunks).toString("latin1");
      plain.destroy();
      const text = raw.replace(/^\+OK <[^>]*>/, "+OK <>").replaceAll(t.login, "{login}");
      resolve({ text, error, closed });
    };
    // A burst is answered once a status line came for each of its lines (a line ended by LF),
    // or the server closed; then the client waits for a quiet moment more. Answers are counted,
    // not timed: a password check may take longer in one host than in another.
    const statusLines = () => (Buffer.concat(chunks).toString("latin1").match(/^(\+OK|-ERR|\+ |\+\r)/gm) ?? []).length;
    const quiet = async (sentAt: number, expected: number) => {
      const deadline = sentAt + BURST_MS;
      while (!closed && performance.now() < deadline && statusLines() < expected) await Bun.sleep(5);
      while (!closed && performance.now() < deadline && (performance.now() - lastData < QUIET_MS || performance.now() - sentAt < QUIET_MS)) await Bun.sleep(10);
    };
    const untilClosed = async (ms: number) => {
      const deadline = performance.now() + ms;
      while (!closed && performance.now() < deadline) await Bun.sleep(10);
    };
    void (async () => {
      // The greeting first: APOP needs its timestamp.
      const greetDeadline = performance.now() + BURST_MS;
      while (!closed && !Buffer.concat(chunks).includes("\n") && performance.now() < greetDeadline) await Bun.sleep(5);
      const greeting = Buffer.concat(chunks).toString("latin1");
      const timestamp = /<[^>]*>/.exec(greeting.split("\n")[0] ?? "")?.[0] ?? "";
      const creds = { login: t.login, password: t.password, apopSecret: t.apopSecret, timestamp };
      if (c.stls !== undefined && !closed) {
        // STLS first (with the plaintext a client or an attacker pipelines after it), then the
        // handshake and the rest of the conversation inside TLS.
        const sentAt = performance.now();
        const expected = statusLines() + 1;
        plain.write(fill(`STLS\r\n${c.stls}`, creds));
        await quiet(sentAt, expected);
        if (!closed && Buffer.concat(chunks).toString("latin1").endsWith("+OK Begin TLS negotiation\r\n")) {
          plain.off("data", onData);
          chunks.push(Buffer.from("[tls]"));
          const secure = tls.connect({ socket: plain, rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions);
          watch(secure);
          sock = secure;
          const deadline = performance.now() + BURST_MS;
          let up = false;
          secure.once("secureConnect", () => (up = true));
          while (!up && !closed && performance.now() < deadline) await Bun.sleep(5);
          if (!up) chunks.push(Buffer.from("[no handshake]"));
        }
      }
      for (const [i, burst] of c.bursts.entries()) {
        if (closed || sock.destroyed) break;
        const sentAt = performance.now();
        if (c.ending === "half-close-now" && i === c.bursts.length - 1) {
          // The last burst and the client's FIN at once (as `nc -N` or a script does).
          sock.end(fill(burst, creds));
          break;
        }
        const expected = statusLines() + (burst.match(/\n/g) ?? []).length;
        sock.write(fill(burst, creds));
        await quiet(sentAt, expected);
      }
      if (!closed) {
        if (c.ending === "half-close") sock.end();
        if (c.ending === "half-close-now" && c.bursts.length === 0) sock.end();
        if (c.ending === "drop") {
          await quiet(performance.now(), 0);
          sock.destroy();
          closed = true;
        } else await untilClosed(CLOSE_MS);
      }
      if (!sock.destroyed) sock.destroy();
      done();
    })();
  });
}

/** The Maildir's files: `sub/name` with the info (flags) kept, sorted. */
export function maildirState(maildir: string): string[] {
  const out: string[] = [];
  for (const sub of ["new", "cur"]) {
    const dir = join(maildir, sub);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) out.push(`${sub}/${name}`);
  }
  return out.sort();
}

/** The Maildir once it stopped changing (a session's last steps may follow its close by a moment). */
export async function settledState(maildir: string): Promise<string[]> {
  let last = maildirState(maildir).join("\n");
  for (let i = 0; i < 20; i++) {
    await Bun.sleep(40);
    const now = maildirState(maildir).join("\n");
    if (now === last && i >= 2) break;
    last = now;
  }
  return last === "" ? [] : last.split("\n");
}

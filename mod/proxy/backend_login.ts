/**
 * Logging in at a backend on the user's behalf: connect (bounded by a timeout), send the
 * PROXY v2 header with the client's addresses (so the backend's rules, logs and fail2ban
 * see the real client), optionally start TLS, read the greeting, then USER/PASS or AUTH
 * PLAIN with the credentials the client gave. The backend decides; the proxy holds no
 * passwords. Each answer is one line of at most MAX_ANSWER_OCTETS.
 */
import type net from "node:net";
import { describeSysError } from "../base/errors.ts";
import { nodeNet, nodeTls } from "../sys/builtins.ts";
import { setTcpQuickAck } from "../sys/fd.ts";
import { streamBackend } from "./_stream_backend.ts";
import { ConnectFailed, connectPlain, type BackendConnection } from "./backend_socket.ts";
import type { Backend } from "./routes.ts";

/** RFC 1939 section 3: responses up to 512 octets with the CRLF; allow some slack for extensions. */
export const MAX_ANSWER_OCTETS = 1024;

export type LoginMechanism = "user" | "plain";

export interface BackendLoginRequest {
  backend: Backend;
  header: Uint8Array;
  user: Uint8Array;
  password: Uint8Array;
  mechanism: LoginMechanism;
  timeoutMs: number;
  tls?: { ca: Buffer | undefined };
}

export type BackendLogin =
  | { kind: "ok"; socket: BackendConnection; reply: Uint8Array; leftover: Uint8Array }
  /** The backend said -ERR; `temporary` when its answer carries a [SYS/...], [IN-USE] or [LOGIN-DELAY] code. */
  | { kind: "refused"; reply: Uint8Array; temporary: boolean }
  | { kind: "unavailable"; detail: string };

class BackendGone extends Error {}

/**
 * Reads CRLF-terminated answers from the backend, bounded in length and time. One timer for
 * the whole login (its deadline), armed while an answer is awaited.
 */
class AnswerReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #waiting: (() => void) | undefined;
  #closed: string | undefined;

  constructor(private readonly conn: BackendConnection) {
    conn.attach({
      data: (chunk) => {
        if (this.#buffer.length === 0) {
          this.#buffer = chunk; // the usual case: the answers arrive in one read
        } else {
          const next = new Uint8Array(this.#buffer.length + chunk.length);
          next.set(this.#buffer, 0);
          next.set(chunk, this.#buffer.length);
          this.#buffer = next;
        }
        this.#waiting?.();
      },
      drain: () => {},
      end: () => this.#close("connection closed by the backend"),
      close: (error) => this.#close(error ?? "connection closed by the backend"),
    });
  }

  #close(why: string): void {
    this.#closed ??= why;
    this.#waiting?.();
  }

  /** The next answer, by `deadline` (ms since the epoch); `budgetMs` names the whole login's bound in the error. */
  async line(deadline: number, budgetMs: number): Promise<Uint8Array> {
    for (;;) {
      const nl = this.#buffer.indexOf(0x0a);
      // The bound holds however the answer arrives (in pieces or in one read with its end of line).
      if (nl >= MAX_ANSWER_OCTETS || (nl < 0 && this.#buffer.length > MAX_ANSWER_OCTETS)) {
        throw new BackendGone(`answer longer than ${MAX_ANSWER_OCTETS} octets`);
      }
      if (nl >= 0) {
        // Copies: the lines outlive the read they came in.
        const line = this.#buffer.slice(0, nl + 1);
        this.#buffer = this.#buffer.subarray(nl + 1);
        return line;
      }
      if (this.#closed !== undefined) throw new BackendGone(this.#closed);
      const left = deadline - Date.now();
      if (left <= 0) throw new BackendGone(`no answer within ${Math.round(budgetMs / 1000)} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          this.#waiting = undefined;
          resolve();
        };
      });
    }
  }

  /** Stops reading; returns (a copy of) what came after the last answer. */
  detach(): Uint8Array {
    this.conn.detach();
    return this.#buffer.slice();
  }
}

/** The plain connection made with node:net, for the TLS path (node:tls starts on it once the PROXY header is sent). */
function connectStream(backend: Backend, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = nodeNet().connect({ host: backend.host, port: backend.port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new BackendGone(`connect timed out after ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once("error", (e) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new BackendGone(`unable to connect: ${describeSysError(e)}`));
    });
  });
}

function startTls(raw: net.Socket, backend: Backend, ca: Buffer | undefined, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const servername = nodeNet().isIP(backend.host) === 0 ? backend.host : undefined;
    const sock = nodeTls().connect({ socket: raw, servername, ca, rejectUnauthorized: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new BackendGone(`TLS handshake timed out after ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    sock.once("secureConnect", () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      resolve(sock);
    });
    sock.once("error", (e) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new BackendGone(`TLS failed: ${e.message}`));
    });
  });
}

/** Whether `line` starts with `status` followed by a space or the end of the line (RFC 1939 section 3). */
function hasStatus(line: Uint8Array, status: string): boolean {
  for (let i = 0; i < status.length; i++) if (line[i] !== status.charCodeAt(i)) return false;
  const after = line[status.length];
  return after === 0x20 || after === 0x0d || after === 0x0a;
}
const isOk = (line: Uint8Array) => hasStatus(line, "+OK");
const isErr = (line: Uint8Array) => hasStatus(line, "-ERR");

/**
 * -ERR [SYS/...], [IN-USE] and [LOGIN-DELAY] (RFC 3206, RFC 2449 section 8.1) say "later", anything
 * else "no": a user who polls too soon has the right password, and must not count as a failed login.
 */
function temporaryAnswer(line: Uint8Array): boolean {
  const text = Buffer.from(line).toString("latin1");
  return /^-ERR \[(SYS\/|IN-USE\]|LOGIN-DELAY\])/i.test(text);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const CRLF = new Uint8Array([0x0d, 0x0a]);
const ascii = (text: string) => Buffer.from(text, "latin1");

const BASE64 = ascii("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

/**
 * `AUTH PLAIN base64(message)\r\n`, encoded straight into the command's own bytes: a base64
 * string (or a pooled Buffer) would keep a copy of the password that nothing can wipe.
 */
function authPlainCommand(message: Uint8Array): Uint8Array {
  const prefix = ascii("AUTH PLAIN ");
  const out = new Uint8Array(prefix.length + 4 * Math.ceil(message.length / 3) + 2);
  out.set(prefix, 0);
  let at = prefix.length;
  for (let i = 0; i < message.length; i += 3) {
    const n = (message[i]! << 16) | ((message[i + 1] ?? 0) << 8) | (message[i + 2] ?? 0);
    out[at++] = BASE64[(n >> 18) & 63]!;
    out[at++] = BASE64[(n >> 12) & 63]!;
    out[at++] = i + 1 < message.length ? BASE64[(n >> 6) & 63]! : 0x3d;
    out[at++] = i + 2 < message.length ? BASE64[n & 63]! : 0x3d;
  }
  out.set(CRLF, at);
  return out;
}

/** The commands that log in, as the client could have sent them (PASS cannot carry CR or LF: then AUTH PLAIN). */
function loginCommands(user: Uint8Array, password: Uint8Array, mechanism: LoginMechanism): Uint8Array[] {
  const needsPlain = mechanism === "plain" || password.includes(0x0a) || password.includes(0x0d);
  if (needsPlain) {
    const message = concat(new Uint8Array([0]), user, new Uint8Array([0]), password);
    const command = authPlainCommand(message);
    message.fill(0);
    return [command];
  }
  return [concat(ascii("USER "), user, CRLF), concat(ascii("PASS "), password, CRLF)];
}

/**
 * What a backend that does not expect the PROXY header looks like: it reads the header's
 * signature as lines ("\r\n", "\r\n", "\0\r\n", "QUIT\n": RFC-style, so that such a
 * server closes) and answers those, not the login; the proxy would take its -ERR to the
 * empty line for the user's wrong password, and popup and fail2ban would hold it against the user.
 */
/** How long a refused login waits for the answer to QUIT: the backend's answers are all on their way already. */
const QUIT_ANSWER_MS = 2000;

const NOT_PROXY_AWARE = "the backend answered the PROXY header as commands (start it with --proxy --proxy-from, naming this proxy)";

/**
 * After a -ERR to the login: reads the answers to the commands still pipelined, then says QUIT,
 * whose answer (RFC 1939 section 5: always +OK in the AUTHORIZATION state) shows that the
 * backend's answers were to our commands. False when the answer to QUIT is not +OK, which is
 * what a backend reading the PROXY header as commands gives; a backend that closes or stays
 * silent instead is taken at its word (true). One round trip; bounded by QUIT_ANSWER_MS in all.
 */
async function quitsCleanly(socket: BackendConnection, answers: AnswerReader, unanswered: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + Math.min(timeoutMs, QUIT_ANSWER_MS);
  socket.send(ascii("QUIT\r\n"));
  try {
    for (let i = 0; i < unanswered; i++) await answers.line(deadline, timeoutMs);
    return !isErr(await answers.line(deadline, timeoutMs));
  } catch {
    return true;
  }
}

/**
 * `line` with every occurrence of a secret (the password, the AUTH PLAIN message) replaced by
 * `*`: a backend that echoes the command it refused ("-ERR bad command PASS ...") must not put
 * the password into the proxy's log.
 */
function withoutSecrets(line: Uint8Array, secrets: readonly Uint8Array[]): Uint8Array {
  let out = Buffer.from(line);
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (let at = out.indexOf(secret); at >= 0; at = out.indexOf(secret, at + 1)) {
      out = Buffer.concat([out.subarray(0, at), Buffer.from("*"), out.subarray(at + secret.length)]);
    }
  }
  return out;
}

/** What of the login commands is secret: the password, and the AUTH PLAIN message (base64) when that was sent. */
function secretsOf(commands: readonly Uint8Array[], password: Uint8Array): Uint8Array[] {
  const first = commands[0]!;
  const plain = Buffer.from(first.buffer, first.byteOffset, Math.min(11, first.length)).toString("latin1") === "AUTH PLAIN "; // a view, not a copy
  return plain ? [Buffer.from(first.subarray(11, first.length - 2)), password] : [new Uint8Array(0), password];
}

/** A node:net socket's descriptor (Bun's node:net keeps it on the handle); undefined when it is not there. */
function streamFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Connects, and over TLS sends the PROXY header in clear and shakes hands; `fd`: the TCP connection's descriptor. */
async function open(req: BackendLoginRequest, deadline: number): Promise<{ socket: BackendConnection; fd: number | undefined }> {
  if (!req.tls) {
    try {
      const socket = await connectPlain(req.backend.host, req.backend.port, req.timeoutMs);
      return { socket, fd: socket.fd };
    } catch (err) {
      throw err instanceof ConnectFailed ? new BackendGone(err.message) : err;
    }
  }
  const raw = await connectStream(req.backend, req.timeoutMs);
  try {
    raw.write(req.header);
    const secure = await startTls(raw, req.backend, req.tls.ca, Math.max(1, deadline - Date.now()));
    return { socket: streamBackend(secure), fd: streamFd(raw) };
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

export async function loginAtBackend(req: BackendLoginRequest): Promise<BackendLogin> {
  let socket: BackendConnection | undefined;
  const commands = loginCommands(req.user, req.password, req.mechanism);
  const secrets = secretsOf(commands, req.password);
  const wipe = () => {
    for (const c of commands) c.fill(0);
    secrets[0]!.fill(0); // the copy of the AUTH PLAIN message (the password itself is the caller's to wipe)
  };
  try {
    // One bound for the whole login (connect, TLS, greeting, answers), as Dovecot's proxy_timeout:
    // a backend that drips its answers costs the client no more than one that says nothing.
    const deadline = Date.now() + req.timeoutMs;
    const opened = await open(req, deadline);
    socket = opened.socket;
    // The login is pipelined (RFC 2449 section 6.6; the backend reads its input line by line,
    // as poppin does): on a plain connection the PROXY header and the login commands go in one
    // write, over TLS the commands go in one write after the handshake. One round trip for the
    // whole login instead of one per command. The originals are wiped once the login is over,
    // the copy written here once the socket has sent it.
    const wire = req.tls ? Buffer.concat(commands) : Buffer.concat([req.header, ...commands]);
    socket.send(wire, () => wire.fill(0));
    // The backend may answer the commands in separate small writes with Nagle on (as tcpserver
    // leaves it): each one waits for our ACK of the one before. Linux delays that ACK (40 ms)
    // on a connection that sent data right after connecting; ask for immediate ACKs instead.
    const fd = opened.fd;
    if (fd !== undefined) setTcpQuickAck(fd);
    const answers = new AnswerReader(socket);
    const greeting = await answers.line(deadline, req.timeoutMs);
    if (!isOk(greeting)) {
      const shown = withoutSecrets(greeting, secrets);
      wipe();
      socket.destroy();
      return { kind: "unavailable", detail: `greeting ${Buffer.from(shown).toString("latin1").trimEnd()}` };
    }
    for (const command of commands) {
      const answer = await answers.line(deadline, req.timeoutMs);
      if (!isOk(answer) && !isErr(answer)) {
        // Neither +OK nor -ERR: a broken backend, not a wrong password (which would count
        // against the user in popup's and fail2ban's eyes). Dovecot's proxy fails it the same way.
        const shown = withoutSecrets(answer, secrets);
        wipe();
        socket.destroy();
        return { kind: "unavailable", detail: `answer ${Buffer.from(shown).toString("latin1").trimEnd()}` };
      }
      if (isErr(answer)) {
        const shown = withoutSecrets(answer, secrets);
        wipe();
        const temporary = temporaryAnswer(answer);
        const unanswered = commands.length - 1 - commands.indexOf(command);
        if (!temporary && !(await quitsCleanly(socket, answers, unanswered, req.timeoutMs))) {
          socket.destroy();
          return { kind: "unavailable", detail: NOT_PROXY_AWARE };
        }
        socket.destroy();
        return { kind: "refused", reply: shown, temporary };
      }
      if (command === commands[commands.length - 1]) {
        wipe();
        return { kind: "ok", socket, reply: answer, leftover: answers.detach() };
      }
    }
    return { kind: "unavailable", detail: "no login command" };
  } catch (err) {
    socket?.destroy();
    wipe();
    const why = err instanceof BackendGone ? err.message : describeSysError(err);
    return { kind: "unavailable", detail: why };
  }
}

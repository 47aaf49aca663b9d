/**
 * Relaying a logged-in session: bytes from the client to the backend and back, with
 * backpressure both ways (a slow reader stops the other side's reads, so a session holds
 * at most a socket buffer per direction), until either side closes or nothing moves for
 * the idle timeout. Counts the octets each way for the session's log line.
 */
import type { Readable, Writable } from "node:stream";
import { peekSocket, writeAvailable } from "../sys/poll.ts";
import type { BackendConnection } from "./backend_socket.ts";

export type RelayEnd = "client-closed" | "backend-closed" | "client-error" | "backend-error" | "timeout";

export interface RelayStats {
  end: RelayEnd;
  /** Octets from the client to the backend (after the login). */
  fromClient: number;
  /** Octets from the backend to the client (after its +OK to the login). */
  toClient: number;
}

export interface RelayEnds {
  clientIn: Readable;
  clientOut: Writable;
  backend: BackendConnection;
  /** Client bytes already read (pipelined after the login), sent to the backend first. */
  pending?: Uint8Array;
  /** Backend bytes already read (after its +OK), sent to the client first. */
  backendPending?: Uint8Array;
  idleTimeoutMs: number;
  /** After the client closed its side: how long the backend may stay silent before the relay ends. */
  graceMs?: number;
  /** Called once at the end (to close the client's side: the socket, or fds 0/1). */
  closeClient(): void;
  /**
   * The plain client socket's descriptor, when known: a piece is then written straight to the
   * descriptor while the socket has nothing queued (one write(2), no trip through the
   * stream's queue); what the kernel does not take at once is queued on the socket as before.
   */
  clientFd?: number;
}

/** Sends `chunk` on `to` (straight to `fd` when nothing is queued); false when the caller must wait for "drain". */
function send(to: Writable, fd: number | undefined, chunk: Uint8Array, last = false): boolean {
  if (fd !== undefined && to.writableLength === 0 && !to.destroyed) {
    const sent = writeAvailable(fd, chunk, last); // -1: the stream's own write reports the failure
    if (sent === chunk.length) return true;
    if (sent > 0) chunk = chunk.subarray(sent);
  }
  return to.write(chunk);
}

const DEFAULT_GRACE_MS = 5_000;

const QUIT = [0x51, 0x55, 0x49, 0x54]; // "QUIT"

/** Whether the client's `chunk` ends with a QUIT command line (RFC 1939 section 6), CRLF or a bare LF. */
function endsWithQuit(chunk: Uint8Array): boolean {
  let end = chunk.length;
  if (end > 0 && chunk[end - 1] === 0x0a) end--;
  else return false;
  if (end > 0 && chunk[end - 1] === 0x0d) end--;
  const start = end - QUIT.length;
  if (start < 0 || (start > 0 && chunk[start - 1] !== 0x0a)) return false;
  for (let i = 0; i < QUIT.length; i++) if ((chunk[start + i]! & 0xdf) !== QUIT[i]) return false;
  return true;
}

const peekOctet = new Uint8Array(1);

/** Whether the backend's connection `fd` has nothing more to read but its end (one recv with MSG_PEEK). */
function endPending(fd: number | undefined): boolean {
  if (fd === undefined) return false;
  try {
    return peekSocket(fd, peekOctet) === 0;
  } catch {
    return false;
  }
}

export function relaySession(ends: RelayEnds): Promise<RelayStats> {
  const { clientIn, clientOut, backend } = ends;
  const stats: RelayStats = { end: "client-closed", fromClient: 0, toClient: 0 };
  return new Promise((resolve) => {
    let ended = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      if (idle !== undefined) idle.refresh();
      else idle = setTimeout(() => stop("timeout", true), ends.idleTimeoutMs);
    };
    let backendClosed = false;
    let finished = false;
    /** The client's side is paused until the backend takes what it holds back. */
    let clientWaits = false;
    /** The client's last command was QUIT: the backend's answer to it is its last, and comes with its FIN. */
    let quitSent = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      clearTimeout(grace);
      clientIn.removeListener("data", fromClient);
      clientOut.removeListener("drain", clientDrained);
      backend.detach();
      backend.destroy();
      ends.closeClient();
      resolve(stats);
    };
    /**
     * The first end decides how the session ended. A client that closes its side (after QUIT,
     * say) still gets the backend's answers: the backend sees the end of input, answers what
     * it got and closes, and then the client's side is closed. Either way the backend's close
     * (or the grace period) ends the relay.
     */
    const stop = (how: RelayEnd, now = false) => {
      if (ended) {
        if (now) finish();
        return;
      }
      ended = true;
      stats.end = how;
      if (now || backendClosed) return finish();
      if (how === "client-closed") backend.shutdown();
      grace = setTimeout(finish, ends.graceMs ?? DEFAULT_GRACE_MS);
    };
    const fromClient = (chunk: Buffer) => {
      stats.fromClient += chunk.length;
      quitSent = endsWithQuit(chunk);
      armIdle();
      if (!backend.send(chunk)) {
        clientWaits = true;
        clientIn.pause();
      }
    };
    /** The client took what was queued for it: read from the backend again. */
    const clientDrained = () => backend.resume();
    const fromBackend = (chunk: Uint8Array) => {
      stats.toClient += chunk.length;
      armIdle();
      grace?.refresh(); // the client closed its side but still downloads: the grace counts from the last byte
      // The answer to QUIT with the backend's FIN behind it (one look, once per session): it goes
      // to the client with our FIN in one segment, and the relay ends now instead of at the
      // next read, which would only find the end (one wake-up of the client and of this process less).
      const last = quitSent && ends.clientFd !== undefined && endPending(backend.fd);
      if (!send(clientOut, ends.clientFd, chunk, last)) {
        backend.pause();
        clientOut.once("drain", clientDrained);
      } else if (last) {
        backendGone(undefined);
      }
    };
    const backendGone = (error: string | undefined) => {
      backendClosed = true;
      if (error !== undefined) stop("backend-error", true);
      else if (!ended) stop("backend-closed");
      else finish();
    };
    armIdle();
    if (ends.backendPending && ends.backendPending.length > 0) fromBackend(ends.backendPending);
    if (ends.pending && ends.pending.length > 0) fromClient(Buffer.from(ends.pending));
    clientIn.on("data", fromClient);
    clientIn.once("end", () => stop("client-closed"));
    clientIn.once("error", () => stop("client-error", true));
    clientOut.once("error", () => stop("client-error", true));
    // Either side may have gone while the backend login ran (a host's login reader saw the
    // client's end or reset, the login's reader the backend's): their events are past, so
    // the state says it, or the other side would be held until the idle timeout.
    if (clientIn.destroyed || clientIn.errored) stop("client-error", true);
    else if (clientIn.readableEnded) stop("client-closed");
    if (finished) return;
    backend.attach({
      data: fromBackend,
      drain: () => {
        if (!clientWaits) return;
        clientWaits = false;
        clientIn.resume();
      },
      // The backend's FIN ends the relay as its close does: what it sent is on its way to the client.
      end: () => backendGone(undefined),
      close: backendGone,
    });
    if (finished) return;
    if (!clientWaits) clientIn.resume();
  });
}

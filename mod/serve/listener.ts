/**
 * The listening socket. tcpserver stops calling accept() while it is at its -c limit, so
 * further clients wait in the kernel's backlog; Node's server has no "stop accepting"
 * switch (maxConnections accepts and closes), so serve keeps a duplicate of the listening
 * descriptor and closes the server while at the limit: the socket stays open and keeps
 * queueing; resuming listens again on a fresh duplicate.
 */
import type net from "node:net";
import { nodeNet } from "../sys/builtins.ts";
import { TempError, describeSysError } from "../base/errors.ts";
import { closeFd, dup, setDeferAccept, setListenBacklog } from "../sys/fd.ts";

export type ConnectionHandler = (socket: net.Socket) => void;

function handleFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new TempError("unable to get local address: no descriptor for the listening socket");
  return fd;
}

function listenOn(server: net.Server, what: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(what, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

export class Listener {
  private server: net.Server | undefined;
  private paused = false;
  private closed = false;
  /** tcpserver's -b, applied again after every resume (Bun listens with its own backlog); undefined for an inherited socket. */
  private backlog: number | undefined;

  private constructor(
    private readonly anchorFd: number,
    readonly address: string,
    readonly port: number,
    readonly ipv6: boolean,
    private readonly onConnection: ConnectionHandler,
    private readonly pauseOnConnect: boolean,
    server: net.Server,
  ) {
    this.server = server;
  }

  /**
   * `pauseOnConnect`: a connection is not read until its handler resumes it (a program gets the
   * descriptor, or the PROXY header is read from it). Off for a handler that reads it in this
   * process from the start: resuming a paused socket costs three system calls (the runtime polls
   * for writable as well, then uncorks and polls for readable only).
   */
  private static newServer(onConnection: ConnectionHandler, pauseOnConnect: boolean): net.Server {
    const server = nodeNet().createServer({ pauseOnConnect }, onConnection);
    // accept(2) trouble (EMFILE, ECONNABORTED) is the kernel's to retry, as tcpserver ignores a failed accept.
    server.on("error", () => {});
    return server;
  }

  /** Binds HOST:PORT (SO_REUSEADDR, as tcpserver's socket_bind4_reuse) and listens; TempError "unable to bind: ..." on failure. */
  static async bind(address: string, port: number, backlog: number, onConnection: ConnectionHandler, pauseOnConnect = true): Promise<Listener> {
    const server = Listener.newServer(onConnection, pauseOnConnect);
    try {
      await listenOn(server, { host: address, port, backlog, exclusive: true, ipv6Only: false });
    } catch (err) {
      // tcpserver's words; for a low port refused to an unprivileged serve, then the cause
      // (a port in use keeps tcpserver's exact line: scripts and the interop test match it).
      const code = (err as { code?: string }).code;
      const hint = code === "EACCES" && port < 1024 ? ` (port ${port} is below 1024: start serve as root; -u and -g drop root after binding)` : "";
      throw new TempError(`unable to bind: ${describeSysError(err)}${hint}`);
    }
    const listener = Listener.adopt(server, onConnection, pauseOnConnect);
    listener.backlog = backlog;
    try {
      setListenBacklog(listener.anchorFd, backlog);
    } catch (err) {
      throw new TempError(`unable to listen: ${describeSysError(err)}`);
    }
    return listener;
  }

  /** Accepts on an inherited listening socket (systemd's fd 3). */
  static async inherit(fd: number, onConnection: ConnectionHandler, pauseOnConnect = true): Promise<Listener> {
    const server = Listener.newServer(onConnection, pauseOnConnect);
    try {
      await listenOn(server, { fd: dup(fd) } as net.ListenOptions);
    } catch (err) {
      throw new TempError(`unable to listen: ${describeSysError(err)}`);
    }
    return Listener.adopt(server, onConnection, pauseOnConnect);
  }

  private static adopt(server: net.Server, onConnection: ConnectionHandler, pauseOnConnect: boolean): Listener {
    const bound = server.address();
    if (bound === null || typeof bound === "string") throw new TempError("unable to get local address: not a TCP socket");
    const anchor = dup(handleFd(server));
    return new Listener(anchor, bound.address, bound.port, bound.family === "IPv6" || bound.family === (6 as unknown as string), onConnection, pauseOnConnect, server);
  }

  /** Stops accepting; the kernel keeps queueing connections up to the backlog. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.server?.close();
    this.server = undefined;
  }

  /** Accepts again (those waiting in the backlog first). */
  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    const server = Listener.newServer(this.onConnection, this.pauseOnConnect);
    this.server = server;
    await listenOn(server, { fd: dup(this.anchorFd) } as net.ListenOptions);
    if (this.backlog !== undefined) setListenBacklog(this.anchorFd, this.backlog);
    // Paused again while listening was under way: stop this server too.
    if (this.server !== server) server.close();
  }

  /**
   * Connections are handed over once their first data arrived (TCP_DEFER_ACCEPT): for --proxy,
   * whose peers always send the header first. The option belongs to the socket, so the
   * duplicates listened on after a pause keep it. False if the kernel refused it.
   */
  deferAcceptUntilData(seconds: number): boolean {
    return setDeferAccept(this.anchorFd, seconds);
  }

  get accepting(): boolean {
    return !this.paused;
  }

  /** Stops for good (SIGTERM). */
  close(): void {
    this.paused = true;
    this.server?.close();
    this.server = undefined;
    // The duplicate too, or the kernel would go on queueing clients nobody accepts (serve --inline's graceful stop).
    if (!this.closed) {
      this.closed = true;
      try {
        closeFd(this.anchorFd);
      } catch {
        // already closed
      }
    }
  }
}

/**
 * serve --inline: tcpserver's accept loop (mod/serve's listener, limits, connection
 * description, rules and log lines) with each session served in this process by
 * runInlineSession instead of a program. tcpserver's pid/ok/end lines carry serve's own
 * pid (there is no child), the end line the status the chain would have exited with.
 */
import type net from "node:net";
import type tls from "node:tls";
import { describeSysError } from "../cli/errors.ts";
import { acceptedEndpoints, describeConnection, proxiedEndpoints, type Endpoints } from "../serve/connection.ts";
import { ConnectionLimits } from "../serve/limits.ts";
import { Listener } from "../serve/listener.ts";
import { endLine, pidLine, statusLine, verdictLine, waitStatus } from "../serve/log_lines.ts";
import type { ServeOptions } from "../serve/options.ts";
import type { ListenOn } from "../serve/server.ts";
import { tlsEnvironment } from "../tls/context.ts";
import { acceptTls } from "../tls/handshake.ts";
import type { ServeTls } from "../tls/serve_tls.ts";
import { setReceiveBuffer } from "../sys/fd.ts";
import { runInlineSession, type InlineSetup } from "./inline_session.ts";
import { RECEIVE_BUFFER_OCTETS } from "./socket_io.ts";

const DENY_STATUS = waitStatus(100, null);
const DROP_STATUS = waitStatus(111, null);

export interface InlineOutput {
  /** A finished line for the log (stderr). */
  log(line: string): void;
  /** A warning after "dropping connection, ". */
  drop(reason: string): void;
}

export class InlineServer {
  readonly limits: ConnectionLimits;
  #listener: Listener | undefined;
  #stopping = false;
  readonly #open = new Set<net.Socket>();
  #idle: (() => void) | undefined;

  constructor(
    private readonly options: ServeOptions,
    private readonly baseEnv: Readonly<Record<string, string | undefined>>,
    private readonly out: InlineOutput,
    private readonly setup: Omit<InlineSetup, "log">,
    private readonly ownPid: number,
    /** --tls: every connection is TLS from its first byte (the handshake is done here). */
    private readonly tls?: ServeTls,
  ) {
    this.limits = new ConnectionLimits(options.limit, options.perIp);
  }

  async start(on: ListenOn): Promise<Listener> {
    const handler = (sock: net.Socket) => void this.#accepted(sock);
    this.#listener = "inheritedFd" in on
      ? await Listener.inherit(on.inheritedFd, handler)
      : await Listener.bind(on.address, on.port, on.backlog, handler);
    if (this.limits.full) this.#listener.pause();
    return this.#listener;
  }

  announce(): void {
    this.#log(statusLine(this.limits.children, this.limits.limit));
  }

  /** Connections being served. */
  get openConnections(): number {
    return this.#open.size;
  }

  /**
   * SIGTERM: accept nothing more, let the sessions finish; after `deadlineMs` close the
   * ones still open. Resolves when none is left.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    this.#listener?.close();
    if (this.#open.size === 0) return;
    const idle = new Promise<void>((resolve) => (this.#idle = resolve));
    const timer = setTimeout(() => {
      for (const sock of this.#open) sock.destroy();
    }, deadlineMs);
    await idle;
    clearTimeout(timer);
  }

  #log(line: string): void {
    if (this.options.verbosity >= 2) this.out.log(line);
  }

  #release(sock: net.Socket, claimedIp: string | undefined): void {
    this.#open.delete(sock);
    this.setup.counters.connectionsOpen = this.#open.size;
    if (claimedIp !== undefined) this.limits.releaseAddress(claimedIp);
    this.limits.close();
    this.#log(statusLine(this.limits.children, this.limits.limit));
    if (this.#stopping) {
      if (this.#open.size === 0) this.#idle?.();
      return;
    }
    if (!this.limits.full && this.#listener && !this.#listener.accepting) {
      this.#listener.resume().catch((err) => this.out.drop(`unable to accept: ${describeSysError(err)}`));
    }
  }

  #dropped(sock: net.Socket, remoteIp: string, reason: string, claimedIp: string | undefined, status = DROP_STATUS): void {
    sock.destroy();
    this.setup.counters.dropped++;
    this.#log(pidLine(this.ownPid, remoteIp));
    if (this.options.verbosity >= 1) this.out.drop(reason);
    this.#log(endLine(this.ownPid, status));
    this.#release(sock, claimedIp);
  }

  async #accepted(sock: net.Socket): Promise<void> {
    sock.on("error", () => {});
    this.#open.add(sock);
    const counters = this.setup.counters;
    counters.connectionsTotal++;
    counters.connectionsOpen = this.#open.size;
    this.limits.open();
    this.#log(statusLine(this.limits.children, this.limits.limit));
    if (this.limits.full) this.#listener?.pause();
    let claimedIp: string | undefined;
    let ends: Endpoints | undefined;
    try {
      const peer = acceptedEndpoints(this.options, sock);
      if (peer === undefined) {
        this.#release(sock, undefined);
        return;
      }
      ends = peer;
      setReceiveBuffer(peer.fd, RECEIVE_BUFFER_OCTETS);
      if (this.options.proxy) {
        const proxied = await proxiedEndpoints(this.options, peer, sock);
        if (typeof proxied === "string") return this.#dropped(sock, peer.remoteIp, proxied, undefined);
        ends = proxied;
      }
      if (!this.limits.claimAddress(ends.remoteIp)) {
        return this.#dropped(sock, ends.remoteIp, `${ends.remoteIp} already has ${this.limits.perIp} connections (--per-ip)`, undefined);
      }
      claimedIp = ends.remoteIp;
      const outcome = await describeConnection(this.options, ends, this.baseEnv);
      if (outcome.kind === "drop") return this.#dropped(sock, ends.remoteIp, outcome.reason, claimedIp);
      if (outcome.kind === "deny") {
        sock.destroy();
        counters.denied++;
        this.#log(pidLine(this.ownPid, outcome.facts.remoteIp));
        this.#log(verdictLine(false, this.ownPid, outcome.facts));
        this.#log(endLine(this.ownPid, DENY_STATUS));
        this.#release(sock, claimedIp);
        return;
      }
      let session: net.Socket = sock;
      let fd: number | undefined = ends.fd;
      let env = outcome.env;
      if (this.tls) {
        try {
          session = await acceptTls(sock, this.tls.holder.context, this.tls.handshakeTimeoutMs);
        } catch (err) {
          return this.#dropped(sock, ends.remoteIp, (err as Error).message, claimedIp);
        }
        session.on("error", () => {});
        env = { ...env, ...tlsEnvironment(session as tls.TLSSocket) };
        fd = undefined;
      }
      this.#log(pidLine(this.ownPid, outcome.facts.remoteIp));
      this.#log(verdictLine(true, this.ownPid, outcome.facts));
      let status: number;
      try {
        status = await (this.setup.serveSession ?? runInlineSession)(session, fd, env, { ...this.setup, log: (line) => this.out.log(line) });
      } catch (err) {
        this.out.log(`${this.setup.chain.popupPrefix}: fatal: internal error: ${(err as Error)?.message ?? String(err)}\n`);
        sock.destroy();
        status = DROP_STATUS;
      }
      this.#log(endLine(this.ownPid, status));
      this.#release(sock, claimedIp);
    } catch (err) {
      this.#dropped(sock, ends?.remoteIp ?? "unknown", `internal error: ${(err as Error)?.message ?? String(err)}`, claimedIp);
    }
  }
}

/**
 * tcpserver's main loop on Bun's event loop: accept, count, describe the connection (rules,
 * PROXY header, per-address limit), log as tcpserver logs, and stop accepting while at the -c
 * limit. What serves an admitted connection is a handler (handlers.ts: spawn the program,
 * relay it through TLS; mod/standalone: serve poppin's chain in this process). Where
 * tcpserver forks a child that dies before exec (a deny, unreadable rules, a program that
 * cannot run), no process starts at all; its log lines then carry serve's own pid, with the
 * status tcpserver's child would have ended with (100 for a deny, 111 otherwise).
 */
import type net from "node:net";
import { describeSysError } from "../base/errors.ts";
import { acceptedEndpoints, describeConnection, proxiedEndpoints, type Endpoints } from "./connection.ts";
import type { ConnectionFacts } from "./environment.ts";
import { ConnectionLimits } from "./limits.ts";
import { DescriptorBudget, openDescriptors } from "./descriptor_budget.ts";
import { Listener } from "./listener.ts";
import { PROXY_DEFER_ACCEPT_SECONDS } from "./proxy_protocol.ts";
import { NameLookups } from "./remote_host.ts";
import { endLine, pidLine, statusLine, verdictLine, waitStatus } from "./log_lines.ts";
import type { ServeOptions } from "./options.ts";

/** What a child that never ran would have exited with: tcpserver's deny (100) and drop (111). */
const DENY_STATUS = waitStatus(100, null);
export const DROP_STATUS = waitStatus(111, null);

export interface ServeOutput {
  /** A -v line (status, pid, ok, deny, end), already formatted. */
  log(line: string): void;
  /** A warning after "dropping connection, ". */
  drop(reason: string): void;
  /** Any other warning (the text after "warning: "). */
  warn(message: string): void;
}

/** What --metrics counts of connections (mod/serve/counters.ts, mod/standalone/session_counters.ts). */
export interface ConnectionCounters {
  connectionsTotal: number;
  denied: number;
  dropped: number;
  connectionsOpen?: number;
  /** How a program ended (hosts that run one). */
  exited?(code: number | null, signal: string | null): void;
}

/** An admitted connection, as a handler gets it: the server logs and releases through it. */
export interface Admitted {
  readonly sock: net.Socket;
  /** The socket's descriptor. */
  readonly fd: number;
  readonly facts: ConnectionFacts;
  /** The UCSPI environment (and what the rules set). */
  readonly env: Record<string, string>;
  /** serve's own pid: for the log lines of a connection served without a process. */
  readonly ownPid: number;
  /** The pid and ok lines (the program's pid, or ownPid). */
  started(pid: number): void;
  /** No program ran: the pid, warning and end lines of tcpserver's short-lived child. */
  dropped(reason: string): void;
  /** The "dropping connection, REASON" warning alone. */
  warnDrop(reason: string): void;
  /** A warning. */
  warn(message: string): void;
  /** The connection is over: the end line with this wait status; `exit` (a program's) is counted. */
  ended(status: number, exit?: { code: number | null; signal: string | null }): void;
}

/** Serves admitted connections. */
export interface ConnectionHandler {
  /** Right after accept, before anything is read (socket options). */
  accepted?(fd: number): void;
  /**
   * The handler reads the connection in this process from its start (serve --inline without
   * --tls): then, unless --proxy reads the header from the descriptor first, the socket is not
   * paused on accept.
   */
  readsAtOnce?: boolean;
  serve(conn: Admitted): void | Promise<void>;
}

export type ListenOn = { address: string; port: number; backlog: number } | { inheritedFd: number };

export class Server {
  private readonly limits: ConnectionLimits;
  private listener: Listener | undefined;
  private stopping = false;
  readonly #open = new Set<net.Socket>();
  #idle: (() => void) | undefined;
  /** Accepting stopped because serve is close to its descriptor limit (descriptor_budget.ts). */
  readonly #descriptors = new DescriptorBudget();
  #descriptorWait: ReturnType<typeof setInterval> | undefined;
  /** TCPLOCALHOST and TCPREMOTEHOST lookups, bounded in time and number. */
  readonly #names: NameLookups;

  constructor(
    private readonly options: ServeOptions,
    private readonly baseEnv: Readonly<Record<string, string | undefined>>,
    private readonly out: ServeOutput,
    private readonly ownPid: number,
    private readonly handler: ConnectionHandler,
    /** --metrics: what is counted. */
    private readonly counters?: ConnectionCounters,
  ) {
    this.limits = new ConnectionLimits(options.limit, options.perIp);
    this.#names = new NameLookups({
      full: (max) => {
        if (options.verbosity >= 1) out.warn(`${max} host name lookups unanswered: connections go on without TCPLOCALHOST and TCPREMOTEHOST until some end (is the resolver in /etc/resolv.conf answering?)`);
      },
    });
  }

  /** Binds (or adopts the inherited socket) and starts accepting; returns the listener (its port for -1). */
  async start(on: ListenOn): Promise<Listener> {
    const handler = (sock: net.Socket) => void this.accepted(sock);
    const pauseOnConnect = this.handler.readsAtOnce !== true || this.options.proxy;
    this.listener = "inheritedFd" in on
      ? await Listener.inherit(on.inheritedFd, handler, pauseOnConnect)
      : await Listener.bind(on.address, on.port, on.backlog, handler, pauseOnConnect);
    // Only a speed-up (one wake-up per connection instead of two): without it the header is polled for.
    if (this.options.proxy) this.listener.deferAcceptUntilData(PROXY_DEFER_ACCEPT_SECONDS);
    if (this.limits.full) this.listener.pause();
    return this.listener;
  }

  /** The first status line, written once the socket is ready (as tcpserver does after listen). */
  announce(): void {
    this.status();
    // Each connection holds a descriptor of serve's (the socket under --inline, the program's
    // pidfd in the classic chain): a -c above the descriptor limit is met only in part.
    const room = this.#descriptors.limit - this.#descriptors.reserve - (openDescriptors() ?? 0);
    if (this.options.verbosity >= 1 && this.limits.limit > room) {
      this.out.warn(`-c ${this.limits.limit} needs more descriptors than ulimit -n ${this.#descriptors.limit} allows: about ${Math.max(0, room)} connections at a time; raise ulimit -n (LimitNOFILE=)`);
    }
  }

  /** Connections being served now (for --metrics). */
  get openConnections(): number {
    return this.limits.children;
  }

  /**
   * SIGTERM: accept nothing more. Programs go on by themselves; connections served in this
   * process get `deadlineMs` to finish and are then closed. Resolves when none is left.
   */
  async stop(deadlineMs = 0): Promise<void> {
    this.stopping = true;
    clearInterval(this.#descriptorWait);
    this.#descriptorWait = undefined;
    this.listener?.close();
    if (this.#open.size === 0) return;
    const idle = new Promise<void>((resolve) => (this.#idle = resolve));
    const timer = setTimeout(() => {
      for (const sock of this.#open) sock.destroy();
    }, deadlineMs);
    await idle;
    clearTimeout(timer);
  }

  /** Whether tcpserver's status, pid, ok/deny and end lines are written (-v): they are built only then. */
  private get logs(): boolean {
    return this.options.verbosity >= 2;
  }

  private status(): void {
    if (this.logs) this.out.log(statusLine(this.limits.children, this.limits.limit));
  }

  private release(sock: net.Socket, claimedIp: string | undefined): void {
    this.#open.delete(sock);
    if (this.counters) this.counters.connectionsOpen = this.#open.size;
    if (claimedIp !== undefined) this.limits.releaseAddress(claimedIp);
    this.limits.close();
    this.status();
    if (this.stopping) {
      if (this.#open.size === 0) this.#idle?.();
      return;
    }
    this.resumeAccepting();
  }

  private resumeAccepting(): void {
    if (!this.limits.full && this.#descriptorWait === undefined && this.listener && !this.listener.accepting) {
      this.listener.resume().catch((err) => this.out.drop(`unable to accept: ${describeSysError(err)}`));
    }
  }

  /**
   * Close to the descriptor limit: accept nothing (clients wait in the backlog) and look ten
   * times a second whether enough descriptors were freed; finished sessions free theirs
   * without a release() (a closing socket no longer counts against -c).
   */
  private descriptorsTight(): void {
    if (this.#descriptorWait !== undefined || this.stopping) return;
    this.listener?.pause();
    if (this.options.verbosity >= 1) this.out.warn(`${this.#descriptors.limit} descriptors allowed (ulimit -n) and nearly all in use: not accepting until some are free`);
    this.#descriptorWait = setInterval(() => {
      if (!this.#descriptors.roomAgain()) return;
      clearInterval(this.#descriptorWait);
      this.#descriptorWait = undefined;
      this.resumeAccepting();
    }, 100);
  }

  /** A connection that gets no program: the pid, warning and end lines tcpserver's short-lived child would have caused. */
  private dropped(sock: net.Socket, remoteIp: string, reason: string, claimedIp: string | undefined): void {
    sock.destroy();
    if (this.counters) this.counters.dropped++;
    if (this.logs) this.out.log(pidLine(this.ownPid, remoteIp));
    if (this.options.verbosity >= 1) this.out.drop(reason);
    if (this.logs) this.out.log(endLine(this.ownPid, DROP_STATUS));
    this.release(sock, claimedIp);
  }

  private async accepted(sock: net.Socket): Promise<void> {
    sock.on("error", () => {});
    this.#open.add(sock);
    if (this.counters) {
      this.counters.connectionsTotal++;
      this.counters.connectionsOpen = this.#open.size;
    }
    this.limits.open();
    this.status();
    if (this.limits.full) this.listener?.pause();
    let claimedIp: string | undefined;
    let ends: Endpoints | undefined;
    try {
      const peer = acceptedEndpoints(this.options, sock);
      if (peer === undefined) {
        this.release(sock, undefined);
        return;
      }
      ends = peer;
      if (this.#descriptors.tight(peer.fd)) this.descriptorsTight();
      this.handler.accepted?.(peer.fd);
      if (this.options.proxy) {
        const proxied = await proxiedEndpoints(this.options, peer, sock);
        if (typeof proxied === "string") return this.dropped(sock, peer.remoteIp, proxied, undefined);
        ends = proxied;
      }
      if (!this.limits.claimAddress(ends.remoteIp)) {
        return this.dropped(sock, ends.remoteIp, `${ends.remoteIp} already has ${this.limits.perIp} connections (--per-ip)`, undefined);
      }
      claimedIp = ends.remoteIp;
      const outcome = await describeConnection(this.options, ends, this.baseEnv, this.#names);
      if (outcome.kind === "drop") return this.dropped(sock, ends.remoteIp, outcome.reason, claimedIp);
      if (outcome.kind === "deny") return this.denied(sock, outcome.facts, claimedIp);
      const remoteIp = ends.remoteIp;
      const claimed = claimedIp;
      let pid = this.ownPid;
      await this.handler.serve({
        sock,
        fd: ends.fd,
        facts: outcome.facts,
        env: outcome.env,
        ownPid: this.ownPid,
        started: (started) => {
          pid = started;
          if (this.logs) {
            this.out.log(pidLine(pid, outcome.facts.remoteIp));
            this.out.log(verdictLine(true, pid, outcome.facts));
          }
        },
        dropped: (reason) => {
          this.dropped(sock, remoteIp, reason, claimed);
        },
        warnDrop: (reason) => {
          if (this.options.verbosity >= 1) this.out.drop(reason);
        },
        warn: (message) => {
          if (this.options.verbosity >= 1) this.out.warn(message);
        },
        ended: (status, exit) => {
          if (exit !== undefined) this.counters?.exited?.(exit.code, exit.signal);
          if (this.logs) this.out.log(endLine(pid, status));
          this.release(sock, claimed);
        },
      });
    } catch (err) {
      this.dropped(sock, ends?.remoteIp ?? "unknown", `internal error: ${(err as Error)?.message ?? String(err)}`, claimedIp);
    }
  }

  private denied(sock: net.Socket, facts: ConnectionFacts, claimedIp: string | undefined): void {
    sock.destroy();
    if (this.counters) this.counters.denied++;
    if (this.logs) {
      this.out.log(pidLine(this.ownPid, facts.remoteIp));
      this.out.log(verdictLine(false, this.ownPid, facts));
      this.out.log(endLine(this.ownPid, DENY_STATUS));
    }
    this.release(sock, claimedIp);
  }
}

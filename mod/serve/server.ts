/**
 * tcpserver's main loop on Bun's event loop: accept, count, describe the connection,
 * start the program with the socket as fds 0 and 1, log as tcpserver logs, and stop
 * accepting while at the -c limit. Where tcpserver forks a child that dies before exec
 * (a deny, unreadable rules, a program that cannot run), serve starts no process at
 * all; its log lines then carry serve's own pid, with the status tcpserver's child
 * would have ended with (100 for a deny, 111 otherwise).
 */
import type net from "node:net";
import { describeSysError } from "../cli/errors.ts";
import { acceptedEndpoints, describeConnection, proxiedEndpoints, type Endpoints } from "./connection.ts";
import type { ConnectionFacts } from "./environment.ts";
import type { ServeCounters } from "./counters.ts";
import { ConnectionLimits } from "./limits.ts";
import { Listener } from "./listener.ts";
import { endLine, pidLine, statusLine, verdictLine, waitStatus } from "./log_lines.ts";
import type { ServeOptions } from "./options.ts";
import type { TlsContextHolder } from "../tls/context.ts";
import { runOverTls } from "../tls/implicit.ts";
import { TLS_FD_VARIABLE } from "../tls/key_material.ts";

/** What a child that never ran would have exited with: tcpserver's deny (100) and drop (111). */
const DENY_STATUS = waitStatus(100, null);
const DROP_STATUS = waitStatus(111, null);
/** Variables that choose popup's certificate files (mod/policy/options.ts). */
const TLS_SOURCE_VARIABLES = ["CERTFILE", "KEYFILE", "POPPIN_CONFIG"] as const;

export interface ServeOutput {
  /** A -v line (status, pid, ok, deny, end), already formatted. */
  log(line: string): void;
  /** A warning after "dropping connection, ". */
  drop(reason: string): void;
  /** Any other warning (the text after "warning: "). */
  warn(message: string): void;
}

export type ListenOn = { address: string; port: number; backlog: number } | { inheritedFd: number };

export class Server {
  private readonly limits: ConnectionLimits;
  private listener: Listener | undefined;
  private stopping = false;

  constructor(
    private readonly options: ServeOptions,
    private readonly baseEnv: Readonly<Record<string, string | undefined>>,
    private readonly out: ServeOutput,
    private readonly ownPid: number,
    /** --tls: terminate TLS here and relay to the program over pipes (mod/tls/implicit.ts). */
    private readonly tls?: { holder: TlsContextHolder; handshakeTimeoutMs: number },
    /** --metrics: what is counted (counters.ts). */
    private readonly counters?: ServeCounters,
    /** poppin's popup with STLS: its key material, handed to each one as POPPIN_TLS_FD (mod/tls/key_material.ts). */
    private readonly stlsMaterial?: TlsContextHolder,
  ) {
    this.limits = new ConnectionLimits(options.limit, options.perIp);
  }

  /** Binds (or adopts the inherited socket) and starts accepting; returns the listener (its port for -1). */
  async start(on: ListenOn): Promise<Listener> {
    const handler = (sock: net.Socket) => void this.accepted(sock);
    this.listener = "inheritedFd" in on
      ? await Listener.inherit(on.inheritedFd, handler)
      : await Listener.bind(on.address, on.port, on.backlog, handler);
    if (this.limits.full) this.listener.pause();
    return this.listener;
  }

  /** The first status line, written once the socket is ready (as tcpserver does after listen). */
  announce(): void {
    if (this.options.verbosity >= 2) this.out.log(statusLine(this.limits.children, this.limits.limit));
  }

  /** Connections being served now (for --metrics). */
  get openConnections(): number {
    return this.limits.children;
  }

  /** SIGTERM: accept nothing more; running programs go on by themselves. */
  stop(): void {
    this.stopping = true;
    this.listener?.close();
  }

  private log(line: string): void {
    if (this.options.verbosity >= 2) this.out.log(line);
  }

  private status(): void {
    this.log(statusLine(this.limits.children, this.limits.limit));
  }

  private release(claimedIp: string | undefined): void {
    if (claimedIp !== undefined) this.limits.releaseAddress(claimedIp);
    this.limits.close();
    this.status();
    if (!this.limits.full && !this.stopping && this.listener && !this.listener.accepting) {
      this.listener.resume().catch((err) => this.out.drop(`unable to accept: ${describeSysError(err)}`));
    }
  }

  /** A connection that gets no program: the pid, warning and end lines tcpserver's short-lived child would have caused. */
  private dropped(sock: net.Socket, remoteIp: string, reason: string, claimedIp: string | undefined): void {
    sock.destroy();
    if (this.counters) this.counters.dropped++;
    this.log(pidLine(this.ownPid, remoteIp));
    if (this.options.verbosity >= 1) this.out.drop(reason);
    this.log(endLine(this.ownPid, DROP_STATUS));
    this.release(claimedIp);
  }

  private async accepted(sock: net.Socket): Promise<void> {
    sock.on("error", () => {});
    if (this.counters) this.counters.connectionsTotal++;
    this.limits.open();
    this.status();
    if (this.limits.full) this.listener?.pause();
    let claimedIp: string | undefined;
    let ends: Endpoints | undefined;
    try {
      const peer = acceptedEndpoints(this.options, sock);
      if (peer === undefined) {
        this.release(undefined);
        return;
      }
      ends = peer;
      if (this.options.proxy) {
        const proxied = await proxiedEndpoints(this.options, peer, sock);
        if (typeof proxied === "string") return this.dropped(sock, peer.remoteIp, proxied, undefined);
        ends = proxied;
      }
      if (!this.limits.claimAddress(ends.remoteIp)) {
        return this.dropped(sock, ends.remoteIp, `${ends.remoteIp} already has ${this.limits.perIp} connections (--per-ip)`, undefined);
      }
      claimedIp = ends.remoteIp;
      const outcome = await describeConnection(this.options, ends, this.baseEnv);
      if (outcome.kind === "drop") return this.dropped(sock, ends.remoteIp, outcome.reason, claimedIp);
      if (outcome.kind === "deny") return this.denied(sock, outcome.facts, claimedIp);
      this.run(sock, ends.fd, outcome.facts, outcome.env, claimedIp);
    } catch (err) {
      this.dropped(sock, ends?.remoteIp ?? "unknown", `internal error: ${(err as Error)?.message ?? String(err)}`, claimedIp);
    }
  }

  private denied(sock: net.Socket, facts: ConnectionFacts, claimedIp: string | undefined): void {
    sock.destroy();
    if (this.counters) this.counters.denied++;
    this.log(pidLine(this.ownPid, facts.remoteIp));
    this.log(verdictLine(false, this.ownPid, facts));
    this.log(endLine(this.ownPid, DENY_STATUS));
    this.release(claimedIp);
  }

  /** --tls: the handshake, then the program on pipes relayed through TLS. */
  private runTls(sock: net.Socket, facts: ConnectionFacts, env: Record<string, string>, claimedIp: string | undefined): void {
    let pid = this.ownPid;
    void runOverTls(sock, this.tls!.holder.context, this.tls!.handshakeTimeoutMs, this.options.program, env, {
      dropped: (reason) => this.dropped(sock, facts.remoteIp, reason, claimedIp),
      started: (childPid) => {
        pid = childPid;
        this.log(pidLine(pid, facts.remoteIp));
        this.log(verdictLine(true, pid, facts));
      },
      ended: (code, signal) => {
        this.counters?.exited(code, signal);
        this.log(endLine(pid, waitStatus(code, signal)));
        this.release(claimedIp);
      },
    });
  }

  /**
   * The STLS key material's descriptor for popup; undefined (popup reads the files itself) when
   * there is none, when it cannot be made, or when the connection's variables (a rule in -x)
   * name other certificate files than serve read.
   */
  #stlsMaterialFd(env: Record<string, string>): number | undefined {
    if (this.stlsMaterial === undefined || TLS_SOURCE_VARIABLES.some((name) => (env[name] ?? "") !== (this.baseEnv[name] ?? ""))) return undefined;
    try {
      return this.stlsMaterial?.materialFd();
    } catch (err) {
      if (this.options.verbosity >= 1) this.out.warn(`unable to hand popup its key material: ${describeSysError(err)}`);
      return undefined;
    }
  }

  private run(sock: net.Socket, fd: number, facts: ConnectionFacts, env: Record<string, string>, claimedIp: string | undefined): void {
    if (this.tls) return this.runTls(sock, facts, env, claimedIp);
    let pid: number;
    try {
      const material = this.#stlsMaterialFd(env);
      const child = Bun.spawn(this.options.program, {
        stdio: material === undefined ? [fd, fd, "inherit"] : [fd, fd, "inherit", material],
        env: material === undefined ? env : { ...env, [TLS_FD_VARIABLE]: "3" },
        onExit: (_proc, exitCode, signalCode) => {
          this.counters?.exited(exitCode, signalCode === null || signalCode === undefined ? null : String(signalCode));
          this.log(endLine(pid, waitStatus(exitCode, signalCode ?? null)));
          this.release(claimedIp);
        },
      });
      pid = child.pid;
    } catch (err) {
      this.log(pidLine(this.ownPid, facts.remoteIp));
      this.log(verdictLine(true, this.ownPid, facts));
      sock.destroy();
      if (this.options.verbosity >= 1) this.out.drop(`unable to run ${this.options.program[0]}: ${describeSysError(err)}`);
      this.log(endLine(this.ownPid, DROP_STATUS));
      this.release(claimedIp);
      return;
    }
    // The parent's copy only: the child holds the connection now (never end(): that would send FIN).
    sock.destroy();
    this.log(pidLine(pid, facts.remoteIp));
    this.log(verdictLine(true, pid, facts));
  }
}

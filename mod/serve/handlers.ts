/**
 * serve's connection handlers for programs (tcpserver's own job): spawnProgram runs the
 * program with the connection as fds 0 and 1; relayOverTls (--tls, sslserver) does the
 * handshake here and relays the program's pipes through TLS. serve --inline's handler
 * (mod/standalone/inline_handler.ts) serves poppin's chain in this process instead.
 */
import { pathexecRun } from "../sys/libc.ts";
import { ENV } from "../base/env.ts";
import { describeSysError } from "../base/errors.ts";
import type { TlsContextHolder } from "../tls/context.ts";
import { runOverTls } from "../tls/implicit.ts";
import { TLS_FD_VARIABLE } from "../tls/key_material.ts";
import { waitStatus } from "./log_lines.ts";
import { DROP_STATUS, type Admitted, type ConnectionHandler } from "./server.ts";

/** The environment a connection's program gets: the connection's own, or with settings added (mod/sys/short_process.ts). */
export type ChildEnv = (env: Record<string, string>) => Record<string, string>;

const asIs: ChildEnv = (env) => env;

/** Variables that choose popup's certificate files (mod/policy/options.ts). */
const TLS_SOURCE_VARIABLES = ["CERTFILE", "KEYFILE", ENV.config.name] as const;

/**
 * Starts argv[0] as tcpserver's pathexec_run finds it (pathexecRun): a name without a slash is
 * looked up in serve's own PATH (tcpserver reads PATH before a rule's variables apply, so a
 * rule's PATH does not choose the program). Throws the error to report (a program found only
 * without execute permission: "access denied", as tcpserver says).
 */
function spawnAsPathexec<T>(name: string, path: string | undefined, spawn: (file: string) => T): T {
  // An empty PATH entry is the current directory: "./name", or spawn would search PATH itself.
  return pathexecRun(name, path, (candidate) => spawn(candidate.includes("/") ? candidate : `./${candidate}`));
}

/**
 * The program with the socket as fds 0 and 1. `stlsMaterial`: poppin's popup with STLS gets
 * the key material serve read (from `baseEnv`'s files), as fd 3 named by POPPIN_TLS_FD
 * (mod/tls/key_material.ts). `childEnv` makes the program's environment from the connection's.
 */
export function spawnProgram(program: readonly string[], stlsMaterial?: TlsContextHolder, baseEnv: Readonly<Record<string, string | undefined>> = {}, childEnv: ChildEnv = asIs): ConnectionHandler {
  /**
   * The material's descriptor; undefined (popup reads the files itself) when there is none, when
   * it cannot be made, or when the connection's variables (a rule in -x) name other certificate
   * files than serve read.
   */
  const materialFd = (conn: Admitted): number | undefined => {
    if (stlsMaterial === undefined || TLS_SOURCE_VARIABLES.some((name) => (conn.env[name] ?? "") !== (baseEnv[name] ?? ""))) return undefined;
    try {
      return stlsMaterial?.materialFd();
    } catch (err) {
      conn.warn(`unable to hand popup its key material: ${describeSysError(err)}`);
      return undefined;
    }
  };
  return {
    serve(conn) {
      const { sock, fd, env } = conn;
      let child;
      try {
        const material = materialFd(conn);
        child = spawnAsPathexec(program[0], baseEnv.PATH, (file) => Bun.spawn([file, ...program.slice(1)], {
          argv0: program[0],
          stdio: material === undefined ? [fd, fd, "inherit"] : [fd, fd, "inherit", material],
          env: material === undefined ? childEnv(env) : { ...childEnv(env), [TLS_FD_VARIABLE]: "3" },
          onExit: (_proc, exitCode, signalCode) => {
            const signal = signalCode === null || signalCode === undefined ? null : String(signalCode);
            conn.ended(waitStatus(exitCode, signalCode ?? null), { code: exitCode, signal });
          },
        }));
      } catch (err) {
        conn.started(conn.ownPid);
        sock.destroy();
        conn.warnDrop(`unable to run ${program[0]}: ${describeSysError(err)}`);
        conn.ended(DROP_STATUS);
        return;
      }
      // The parent's copy only: the child holds the connection now (never end(): that would send FIN).
      sock.destroy();
      conn.started(child.pid);
    },
  };
}

/** --tls: the handshake, then the program on pipes relayed through TLS (mod/tls/implicit.ts). */
export function relayOverTls(program: readonly string[], tls: { holder: TlsContextHolder; handshakeTimeoutMs: number }, childEnv: ChildEnv = asIs): ConnectionHandler {
  return {
    serve(conn) {
      void runOverTls(conn.sock, tls.holder.context, tls.handshakeTimeoutMs, program, childEnv(conn.env), {
        dropped: (reason) => conn.dropped(reason),
        started: (pid) => conn.started(pid),
        ended: (code, signal) => conn.ended(waitStatus(code, signal), { code, signal }),
      });
    },
  };
}

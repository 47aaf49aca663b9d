/**
 * Command tables: each POP3 state is an explicit map verb -> handler with a handler
 * for everything else. Nothing is dispatched by building a name from wire input.
 */

/** What a command asks of the program driving the session (the engine does no I/O). */
export type Pop3Action =
  /** Run the checkpassword chain with `user\0password\0timestamp\0` (popup). */
  | {
    kind: "authenticate"; user: Uint8Array; password: Uint8Array; apop: boolean;
    /** How the user logs in, for the logs: USER, APOP, or the SASL mechanism (PLAIN, SCRAM-SHA-256 ...). */
    mechanism?: string;
    /** A bearer token to hand checkpassword beside fd 3 (mod/sasl/oauthbearer.ts). */
    bearer?: string;
    /** Sent as a "+ base64" challenge (and the client's answer read) before a failure's -ERR. */
    failureChallenge?: Uint8Array;
    /** The mechanism already failed (a wrong SCRAM proof): no chain to run, answer as a failed login. */
    failed?: { failure: "rejected" | "temporary"; detail: string };
  }
  /** STLS accepted: after the reply, negotiate TLS on the connection (RFC 2595). */
  | { kind: "starttls" }
  /** Send message `index` (0-based): "+OK" line, the message (all of it, or headers and `bodyLines` lines), ".". */
  | { kind: "retrieve"; index: number; bodyLines: number | undefined; size: number }
  /** QUIT in TRANSACTION: remove these messages (0-based), then answer with the session's quitReply. */
  | { kind: "update"; deleted: number[] };

export interface Outcome {
  /** Bytes to send now (before the action's own output, if any). */
  reply?: Uint8Array;
  action?: Pop3Action;
  /** Close the connection after the reply (and the action). */
  close?: boolean;
  /** The command was unknown or malformed: counts toward MAX_BAD_COMMANDS. */
  bad?: boolean;
}

export type Handler<S> = (state: S, arg: Uint8Array) => Outcome;

export interface CommandTable<S> {
  readonly handlers: ReadonlyMap<string, Handler<S>>;
  readonly unknown: Handler<S>;
  /** The CAPA lines for this state right now (default: the session's fixed list). */
  readonly capabilities?: (state: S) => readonly string[] | undefined;
  /**
   * A line that is not a command (a SASL response after "+ "): returns its outcome, or
   * undefined when no continuation is pending. `line` is undefined for an overlong line.
   */
  readonly continuation?: (state: S, line: Uint8Array | undefined) => Outcome | undefined;
}

export function lookup<S>(table: CommandTable<S>, verb: string): Handler<S> {
  return table.handlers.get(verb) ?? table.unknown;
}

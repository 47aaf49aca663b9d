/**
 * The sans-I/O POP3 session: feed it bytes from the client, take the outcomes
 * (bytes to send, actions to perform) one command at a time. The same machine
 * serves popup (AUTHORIZATION) and pop3d (TRANSACTION); CAPA is answered here from
 * both tables, and bad commands are counted here (MAX_BAD_COMMANDS).
 */
import { AUTHORIZATION_TABLE, type AuthorizationState } from "./authorization.ts";
import { capabilityLines, capaReply } from "./capabilities.ts";
import { parseLine } from "./command.ts";
import { LineFramer } from "./line_framer.ts";
import { MAX_BAD_COMMANDS, MAX_COMMAND_OCTETS, MAX_SASL_LINE_OCTETS } from "./limits.ts";
import { TEXT, err } from "./responses.ts";
import { lookup, type CommandTable, type Outcome } from "./table.ts";
import { TRANSACTION_TABLE, type TransactionState } from "./transaction.ts";

/** The capability list, the same in both states. */
export const CAPABILITIES: readonly string[] = capabilityLines(AUTHORIZATION_TABLE, TRANSACTION_TABLE);

export class Pop3Session<S> {
  readonly framer: LineFramer;
  readonly state: S;
  readonly #table: CommandTable<S>;
  #bad = 0;
  #closed = false;

  /** `maxLine` above MAX_COMMAND_OCTETS admits longer AUTH lines and SASL responses only. */
  constructor(table: CommandTable<S>, state: S, maxLine = MAX_COMMAND_OCTETS) {
    this.#table = table;
    this.state = state;
    this.framer = new LineFramer(maxLine);
  }

  /** Bytes from the client. */
  push(bytes: Uint8Array): void {
    this.framer.push(bytes);
  }

  /** Whether the session ended (QUIT, too many bad commands). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Handles the next complete command line, or returns undefined until one is there. */
  next(): Outcome | undefined {
    if (this.#closed) return undefined;
    const framed = this.framer.next();
    if (framed === undefined) return undefined;
    let outcome: Outcome;
    const continued = this.#table.continuation?.(this.state, framed.kind === "line" ? framed.bytes : undefined);
    let parsed = parseLine(framed);
    // Only AUTH and SASL responses may be longer than RFC 2449's 255 octets.
    if (framed.kind === "line" && framed.bytes.length + 2 > MAX_COMMAND_OCTETS && parsed.kind === "command" && parsed.command.verb !== "auth") parsed = { kind: "too-long" };
    if (continued !== undefined) outcome = continued;
    else if (parsed.kind === "too-long") outcome = { reply: err(TEXT.lineTooLong), bad: true };
    else if (parsed.kind === "nul") outcome = { reply: err(TEXT.nulInLine), bad: true };
    else if (parsed.command.verb === "capa") outcome = { reply: capaReply(this.#table.capabilities?.(this.state) ?? CAPABILITIES) };
    else outcome = lookup(this.#table, parsed.command.verb)(this.state, parsed.command.arg);
    if (outcome.bad && ++this.#bad >= MAX_BAD_COMMANDS) {
      // The answer to this command, then the connection closes (with no update in TRANSACTION).
      outcome = { reply: outcome.reply ?? err(TEXT.tooManyBad), close: true };
    }
    if (outcome.close) this.#closed = true;
    return outcome;
  }

  /** Forgets every byte received but not yet handled (RFC 2595: plaintext sent after STLS is discarded). */
  discardInput(): void {
    this.framer.clear();
  }

  /** Applies an outcome decided outside the table (a failed login), keeping the closed flag in step. */
  apply(outcome: Outcome): Outcome {
    if (outcome.close) this.#closed = true;
    return outcome;
  }
}

export function authorizationSession(state: AuthorizationState): Pop3Session<AuthorizationState> {
  return new Pop3Session(AUTHORIZATION_TABLE, state, MAX_SASL_LINE_OCTETS);
}

export function transactionSession(state: TransactionState): Pop3Session<TransactionState> {
  return new Pop3Session(TRANSACTION_TABLE, state);
}

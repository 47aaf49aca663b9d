/**
 * pop3 — the engine: POP3 as state machines, no sockets and no processes. Bytes from the
 * client go into a session (session.ts), which answers one command at a time from the
 * AUTHORIZATION and TRANSACTION tables (authorization.ts, transaction.ts) with a reply and
 * an action for the driver (authenticate, retrieve, update). Every response text is in
 * responses.ts; messages are put in their POP3 form by message_encoder.ts. Also here: the
 * Mailbox interface and the Maildir mailbox, EXPIRE's record, the limits, and the blocking
 * fd channel the classic programs read and write through (fd_channel.ts).
 */
export { CAPABILITIES, Pop3Session, authorizationSession, transactionSession } from "./session.ts";
export { TEXT, err, loginDelayText, ok } from "./responses.ts";
export type { CommandTable, Handler, Outcome, Pop3Action } from "./table.ts";
export { TRANSACTION_TABLE, newTransactionState, type Pop3dServeOptions, type Pop3dStats, type TransactionOptions, type TransactionState } from "./transaction.ts";
export { AUTHORIZATION_TABLE, authenticationFailed, newAuthorizationState, type AuthFailure, type AuthorizationState, type LoginPolicy } from "./authorization.ts";
export { MessageEncoder } from "./message_encoder.ts";
export type { Mailbox, MessageReader } from "./mailbox.ts";
export { MaildirMailbox, type Compat } from "./maildir_mailbox.ts";
export { ClientGone, ClientTimeout, FdChannel, OutputBuffer, type Channel } from "./fd_channel.ts";

/**
 * session — the service: one POP3 session as every host runs it.
 *   runLogin (login.ts): popup's AUTHORIZATION loop (login_loop.ts) with the login policy.
 *   checkLogin (login.ts): checkpassword's decision on popup's fd-3 data.
 *   runMailboxSession (mailbox_session.ts): start checks, open the Maildir or mbox, greet,
 *     the TRANSACTION loop (transaction_loop.ts, over a sync or async channel), update, report.
 *   parsePop3dArgs (pop3d_args.ts): pop3d's command line, for the applet and serve's check.
 * A host gives channels, log lines and privileges; files named _*.ts are this folder's own.
 */
export { checkLogin, runLogin, type CheckLoginSpec, type LoginResult, type LoginSpec } from "./login.ts";
export { servePopup, checkpasswordData, type ChainResult, type LoginMeans, type PopupChannel, type PopupEnd, type PopupOptions } from "./login_loop.ts";
export { runMailboxSession, type MailboxSessionSpec, type SessionEnd, type SessionHost } from "./mailbox_session.ts";
export { SESSION_OUTPUT_OCTETS, fdTransactionChannel, runAsync, runSync, servePop3d, transactionLoop, type TransactionChannel } from "./transaction_loop.ts";
export { withPipelinedInput, pipelinedValue, PIPELINED_VARIABLE } from "./pipelined_input.ts";
export { parsePop3dArgs, type Pop3dArgs } from "./pop3d_args.ts";

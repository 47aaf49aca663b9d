import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_OK, EXIT_PERM, EXIT_TEMP, PermError, TempError } from "../base/errors.ts";
import { writeAll, writeStderr } from "../base/io.ts";
import { netstring, ANSWER } from "../qmqp/answers.ts";
import { qmqpdConfigFromEnv } from "../qmqp/config.ts";
import { handleRequest, type LocalDeliverer } from "../qmqp/handle.ts";
import { readRequest } from "../qmqp/input.ts";
import {
  becomeIds, DELIVER_ARG, deliverAsRecipient, HELPER_ARG, networkIdsFromEnv, REMOVE_ARG, removeAsRecipient, runLocalHelper, startLocalHelper,
} from "../qmqp/local_helper.ts";
import { QmqpParser, QmqpProtocolError } from "../qmqp/parser.ts";
import type { QmqpdConfig } from "../qmqp/config.ts";
import { logLine, logValue } from "../base/log_value.ts";
import { clientAddressKnown } from "../base/ucspi_env.ts";

const USAGE = `qmqpd   (under serve: qmail-qmqpd's place, reading one QMQP request on fd 0)

Answers K, Z or D as qmail-qmqpd does. Delivery: to $QMAILQUEUE (a qmail-queue compatible
program: message on fd 0, envelope on fd 1) when set, else straight into each recipient's
Maildir (local part = a virtual user in $POPPIN_USERDB, else a system account with uid at
least $POPPIN_MIN_UID), accepted only once every copy is on disk.
Started as root (serve without -U, under envuidgid ACCOUNT), it reads the client as $UID/$GID
and a root helper writes each copy as its recipient, as qmail-lspawn runs qmail-local.
  DATABYTES            largest message accepted (default 52428800)
  POPPIN_QMQP_TIMEOUT  seconds for the whole request (default 3600, as qmail-qmqpd)
  MAILDIRNAME          the Maildir under each home (default Maildir)`;

function printable(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("latin1").replace(/[^\x21-\x7e]/g, "?");
}

/** The helper's and the per-recipient modes (started by qmqpd itself); undefined: the network side. */
async function internalMode(args: readonly string[], config: QmqpdConfig, execPath: string, env: NodeJS.ProcessEnv): Promise<number | undefined> {
  const [mode, ...rest] = args;
  if (mode !== HELPER_ARG && mode !== DELIVER_ARG && mode !== REMOVE_ARG) return undefined;
  try {
    if (mode === HELPER_ARG) {
      const answer = await runLocalHelper(config, execPath, env, process.pid);
      if (answer) writeAll(1, answer);
    } else if (mode === DELIVER_ARG) {
      writeAll(1, `${await deliverAsRecipient(rest, config)}\n`);
    } else {
      removeAsRecipient(rest);
    }
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof TempError) && !(err instanceof PermError)) throw err;
    writeStderr(`${err.message}\n`);
    return err.exitCode;
  }
}

export const applet: Applet = {
  name: "qmqpd",
  summary: "receive one message by QMQP (qmail-qmqpd) into qmail-queue or local Maildirs",
  usage: USAGE,
  async run(args, ctx) {
    const config = qmqpdConfigFromEnv(ctx.env);
    const internal = await internalMode(args, config, ctx.execPath, ctx.env);
    if (internal !== undefined) return internal;
    let localHelper: LocalDeliverer | undefined;
    if (process.geteuid?.() === 0) {
      try {
        const ids = networkIdsFromEnv(ctx.env);
        if (!config.queue) localHelper = startLocalHelper(ctx.execPath, ctx.env);
        becomeIds(ids);
      } catch (err) {
        if (!(err instanceof TempError)) throw err;
        fatal(ctx, err.message);
        return EXIT_TEMP;
      }
    }
    // Started by inetd or socket activation: the connection says who the client is, as tcpserver would have.
    if (!clientAddressKnown(ctx.env)) (await import("../serve/inherited_connection.ts")).fillFromInheritedConnection(ctx.env, 0);
    const rip = ctx.env.TCPREMOTEIP ?? "unknown";
    const log = (level: string, text: string) => writeStderr(logLine(`${ctx.prefix}: ${level}: ${text} rip=${logValue(rip)}\n`));
    const parser = new QmqpParser(config.limits);
    let outcome;
    try {
      outcome = readRequest(0, Date.now() + config.timeoutMs, (chunk) => { parser.feed(chunk); return parser.done; });
    } catch (err) {
      if (!(err instanceof QmqpProtocolError)) throw err;
      writeAll(1, netstring(ANSWER.protocol));
      log("warning", `refused: ${err.message}`);
      return EXIT_PERM;
    }
    if (outcome === "timeout") {
      log("warning", "timed out reading the request");
      return EXIT_TEMP;
    }
    if (outcome === "eof") {
      log("warning", "the client closed the connection before the end of the request");
      return EXIT_TEMP;
    }
    const req = parser.request;
    const result = await handleRequest(req, config, { env: ctx.env, now: new Date(), qp: process.pid, localHelper });
    writeAll(1, netstring(result.answer));
    const rcpt = req.recipients.map((r) => `<${printable(r)}>`).join(",");
    log("info", `${result.answer[0]} from=<${printable(req.sender)}> to=${rcpt} size=${req.messageSize}: ${result.answer.slice(1)}${result.detail ? ` (${result.detail})` : ""}`);
    return EXIT_OK;
  },
};

/**
 * One QMQP request from parse to answer: the checks qmail-qmqpd makes, then the queue
 * program or local Maildirs. Returns the answer text and a log line; does no reading or
 * writing of the connection itself.
 */
import { PermError, TempError } from "../cli/errors.ts";
import { ANSWER, okAnswer } from "./answers.ts";
import type { QmqpdConfig } from "./config.ts";
import { deliverToAll, resolveRecipient, type Delivered, type LocalConfig, type LocalTarget } from "./local.ts";
import type { QmqpRequest } from "./parser.ts";
import { queueMessage } from "./queue.ts";
import { receivedLine } from "./received.ts";

export interface Outcome {
  answer: string;
  /** Why, for the log (never sent to the client). */
  detail?: string;
}

/** Local delivery done elsewhere: the privileged helper of a qmqpd started as root (local_helper.ts). */
export interface LocalDeliverer {
  deliver(sender: Uint8Array, recipients: readonly Uint8Array[], message: readonly Uint8Array[]): Promise<Outcome>;
}

export interface HandleContext {
  env: NodeJS.ProcessEnv;
  now: Date;
  qp: number;
  /** Set when qmqpd runs split: local copies are written by the helper, as each recipient. */
  localHelper?: LocalDeliverer;
}

export type DeliverAll = (targets: readonly LocalTarget[], sender: Uint8Array, message: readonly Uint8Array[]) => Promise<Delivered[]>;

export async function handleRequest(req: QmqpRequest, config: QmqpdConfig, ctx: HandleContext): Promise<Outcome> {
  if (req.tooBig) return { answer: ANSWER.tooBig, detail: `message of ${req.messageSize} bytes` };
  if (req.badAddress) return { answer: ANSWER.badAddress };
  if (req.tooManyRecipients) return { answer: ANSWER.tooManyRecipients };
  const message = [Buffer.from(receivedLine(ctx.env, ctx.now)), ...req.message];
  const accepted = okAnswer(Math.floor(ctx.now.getTime() / 1000), ctx.qp);
  if (config.queue) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.env)) if (v !== undefined) env[k] = v;
    const result = await queueMessage(config.queue, message, req.sender, req.recipients, env);
    return { answer: result === "" ? accepted : result, detail: result === "" ? `queued by ${config.queue}` : undefined };
  }
  if (ctx.localHelper) return ctx.localHelper.deliver(req.sender, req.recipients, message);
  return deliverLocally(req.sender, req.recipients, message, config.local, accepted, deliverToAll);
}

/** Every recipient resolved to a Maildir, then one copy each, all or nothing, through `deliverAll`. */
export async function deliverLocally(
  sender: Uint8Array, recipients: readonly Uint8Array[], message: readonly Uint8Array[],
  config: LocalConfig, accepted: string, deliverAll: DeliverAll,
): Promise<Outcome> {
  const targets: LocalTarget[] = [];
  for (const recipient of recipients) {
    let target: LocalTarget | undefined;
    try {
      target = resolveRecipient(recipient, config);
    } catch (err) {
      return { answer: ANSWER.localTrouble, detail: (err as Error).message };
    }
    if (!target) return { answer: ANSWER.noMailbox, detail: `no user for ${Buffer.from(recipient).toString("latin1")}` };
    targets.push(target);
  }
  try {
    const done = await deliverAll(targets, sender, message);
    return { answer: accepted, detail: `delivered to ${done.map((d) => d.path).join(" ")}` };
  } catch (err) {
    if (err instanceof TempError || err instanceof PermError) return { answer: ANSWER.localTrouble, detail: err.message };
    throw err;
  }
}

/**
 * qmqpd's privilege split for local delivery, in qmail's shape: qmail-qmqpd talks to the
 * network as an unprivileged account while root's qmail-lspawn starts one qmail-local per
 * recipient as that recipient. Here, qmqpd started as root (serve without -U, $UID and $GID
 * from envuidgid) starts its helper first, then drops to $UID/$GID before it reads a byte
 * from the client:
 *
 *   qmqpd (network side, $UID)  --request on a pipe-->  helper (root, no socket)
 *     helper: resolve each recipient; then a process becomes the recipient's uid and gid
 *     (groups = just the gid, as qmail's prot_gid) before it looks at the Maildir, checks
 *     the Maildir is the recipient's own, and delivers: the helper itself when every
 *     recipient has the same ids (it serves one request), else one child per recipient.
 *   answer (K/Z/D text and a detail for the log) <--pipe--
 *
 * The helper never holds the connection, and root never opens a path in a mail user's
 * home. All or nothing stays: when one copy fails, the copies already made are removed,
 * each by a child running as that copy's owner.
 */
import { statSync, unlinkSync } from "node:fs";
import { dlopen } from "bun:ffi";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { openUnderLimits } from "../sys/memory_limit.ts";
import { ANSWER, netstring, okAnswer } from "./answers.ts";
import type { QmqpdConfig } from "./config.ts";
import { deliverLocally, type LocalDeliverer, type Outcome } from "./handle.ts";
import { readRequest } from "./input.ts";
import { deliverToAll, type Delivered, type LocalTarget } from "./local.ts";
import { QmqpParser, type QmqpRequest } from "./parser.ts";
import { switchIds } from "../sys/switch_ids.ts";

/** The helper's and the recipients' modes of the qmqpd applet (never given by a user). */
export const HELPER_ARG = "--local-helper";
export const DELIVER_ARG = "--deliver-as";
export const REMOVE_ARG = "--remove-as";

/** Room for the Received line the network side puts above the message. */
const RECEIVED_ROOM = 64 * 1024;
/** The helper waits this much longer than the network side's own deadline. */
const HELPER_GRACE_MS = 60_000;

export interface Ids { uid: number; gid: number }

function idFrom(text: string | undefined, name: string): number {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) throw new TempError(`$${name} is ${text === undefined ? "not set" : `not a number: ${text}`}`);
  return Number(text);
}

/**
 * The account the network side runs as: $UID and $GID, as envuidgid sets them. Root
 * never parses a client's bytes, so a qmqpd started as root without them refuses to run.
 */
export function networkIdsFromEnv(env: NodeJS.ProcessEnv): Ids {
  if (env.UID === undefined || env.GID === undefined) {
    throw new TempError("started as root without $UID and $GID: run it as envuidgid QMQPDACCOUNT ... qmqpd (the network side never runs as root)");
  }
  const ids = { uid: idFrom(env.UID, "UID"), gid: idFrom(env.GID, "GID") };
  if (ids.uid === 0) throw new TempError("$UID is 0: the network side must not run as root");
  return ids;
}

function openPrctl() {
  return openUnderLimits(() => dlopen("libc.so.6", { prctl: { args: ["i32", "u64", "u64", "u64", "u64"], returns: "i32" } }));
}
let prctlHandle: ReturnType<typeof openPrctl> | undefined;
const PR_SET_DUMPABLE = 4;

/**
 * prot_gid then prot_uid: groups = [gid], gid, uid (sys/switch_ids.ts checks it took). Then non-dumpable
 * (the kernel's default after a switch from root, made explicit): processes of the same
 * uid can neither ptrace it nor read its memory, which may hold what root read (the user
 * database) or the client's message.
 */
export function becomeIds(ids: Ids): void {
  try {
    switchIds({ uid: ids.uid, gid: ids.gid, groups: { list: [ids.gid] } });
  } catch (err) {
    throw new TempError(`unable to switch to uid ${ids.uid} gid ${ids.gid}: ${describeSysError(err)}`);
  }
  prctlHandle ??= openPrctl();
  if (prctlHandle.symbols.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) throw new TempError("unable to make the process non-dumpable");
}

/** The request as QMQP netstrings again: the pipe speaks the same format as the wire. */
export function encodeRequest(message: readonly Uint8Array[], sender: Uint8Array, recipients: readonly Uint8Array[]): Uint8Array[] {
  const size = message.reduce((n, c) => n + c.length, 0);
  const inner: Uint8Array[] = [Buffer.from(`${size}:`), ...message, Buffer.from(",")];
  for (const address of [sender, ...recipients]) inner.push(Buffer.from(`${address.length}:`), address, Buffer.from(","));
  const total = inner.reduce((n, c) => n + c.length, 0);
  return [Buffer.from(`${total}:`), ...inner, Buffer.from(",")];
}

/** Splits `count` netstrings off `bytes`; undefined when they are not there exactly. */
export function parseNetstrings(bytes: Uint8Array, count: number): string[] | undefined {
  const text = Buffer.from(bytes).toString("latin1");
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const m = /^([0-9]{1,10}):/.exec(text.slice(at, at + 12));
    if (!m) return undefined;
    const start = at + m[0].length;
    const end = start + Number(m[1]);
    if (text[end] !== ",") return undefined;
    out.push(text.slice(start, end));
    at = end + 1;
  }
  return at === text.length ? out : undefined;
}

/** Network side: starts the root helper (call before dropping privileges). */
export function startLocalHelper(execPath: string, env: NodeJS.ProcessEnv): LocalDeliverer {
  const child = Bun.spawn([execPath, "qmqpd", HELPER_ARG], { stdin: "pipe", stdout: "pipe", stderr: "inherit", env });
  return {
    async deliver(sender, recipients, message): Promise<Outcome> {
      try {
        for (const chunk of encodeRequest(message, sender, recipients)) child.stdin.write(chunk);
        await child.stdin.end();
      } catch { /* the helper is gone: its exit says so below */ }
      const out = new Uint8Array(await new Response(child.stdout).arrayBuffer());
      const code = await child.exited;
      const answer = parseNetstrings(out, 2);
      if (!answer || !/^[KZD]/.test(answer[0])) return { answer: ANSWER.localTrouble, detail: `the delivery helper failed (exit ${code})` };
      return { answer: answer[0], detail: answer[1] || undefined };
    },
  };
}

interface ChildResult { code: number; out: string; err: string }

async function runChild(execPath: string, args: string[], stdin: Uint8Array | undefined, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  const child = Bun.spawn([execPath, "qmqpd", ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, out, err };
}

function idArgs(target: LocalTarget): string[] {
  return [String(target.uid), String(target.gid)];
}

/**
 * Helper side: all or nothing, each copy written as its recipient. When every recipient has
 * the same uid and gid (one user, or virtual users sharing a mail account) the helper, which
 * serves one request, becomes that account itself and delivers; otherwise one child per
 * recipient does.
 */
export function deliverAsRecipients(execPath: string, env: NodeJS.ProcessEnv) {
  return async (targets: readonly LocalTarget[], sender: Uint8Array, message: readonly Uint8Array[]): Promise<Delivered[]> => {
    const first = targets[0];
    if (first !== undefined && targets.every((t) => t.uid === first.uid && t.gid === first.gid)) {
      becomeIds(idsFromArgs(String(first.uid), String(first.gid)));
      for (const t of targets) checkOwnMaildir(t.maildir, t.uid);
      return deliverToAll(targets, sender, message);
    }
    const done: Delivered[] = [];
    for (const target of targets) {
      const request = Buffer.concat(encodeRequest(message, sender, [target.recipient]));
      const r = await runChild(execPath, [DELIVER_ARG, ...idArgs(target), target.maildir], request, env);
      const path = r.out.trim();
      if (r.code === 0 && path) {
        done.push({ target, path });
        continue;
      }
      for (const d of done) await runChild(execPath, [REMOVE_ARG, ...idArgs(d.target), d.path], undefined, env);
      const why = r.err.trim().split("\n").pop() || `delivery as uid ${target.uid} ended with ${r.code}`;
      throw r.code === 100 ? new PermError(why) : new TempError(why);
    }
    return done;
  };
}

function readWholeRequest(config: QmqpdConfig, extraMs: number): QmqpRequest | undefined {
  const parser = new QmqpParser({ maxMessage: config.limits.maxMessage + RECEIVED_ROOM, maxRecipients: config.limits.maxRecipients });
  const outcome = readRequest(0, Date.now() + config.timeoutMs + extraMs, (chunk) => { parser.feed(chunk); return parser.done; });
  return outcome === "complete" ? parser.request : undefined;
}

/**
 * Helper main: reads one request from the network side on fd 0, answers on fd 1 with two
 * netstrings (the answer, a detail for the log). Nothing to do when the network side closes
 * without a request (the client was refused or went away).
 */
export async function runLocalHelper(config: QmqpdConfig, execPath: string, env: NodeJS.ProcessEnv, qp: number): Promise<Uint8Array | undefined> {
  const req = readWholeRequest(config, HELPER_GRACE_MS);
  if (!req || req.badAddress || req.tooBig || req.tooManyRecipients) return undefined;
  const accepted = okAnswer(Math.floor(Date.now() / 1000), qp);
  const outcome = await deliverLocally(req.sender, req.recipients, req.message, config.local, accepted, deliverAsRecipients(execPath, env));
  return Buffer.concat([netstring(outcome.answer), netstring(outcome.detail ?? "")]);
}

function idsFromArgs(uidText: string | undefined, gidText: string | undefined): Ids {
  const ids = { uid: idFrom(uidText, "UID"), gid: idFrom(gidText, "GID") };
  if (ids.uid === 0) throw new PermError("refusing to deliver as root");
  return ids;
}

/** The Maildir must be the recipient's own (checked as the recipient, after the switch). */
function checkOwnMaildir(maildir: string, uid: number): void {
  let st;
  try {
    st = statSync(maildir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new PermError(`no such Maildir: ${maildir}`);
    throw new TempError(`unable to stat ${maildir}: ${describeSysError(err)}`);
  }
  if (!st.isDirectory()) throw new PermError(`${maildir} is not a directory`);
  if (st.uid !== uid) throw new TempError(`${maildir} belongs to uid ${st.uid}, not to the recipient's uid ${uid}`);
}

/** Recipient child: become the recipient, check the Maildir, deliver the one copy; returns its path. */
export async function deliverAsRecipient(args: readonly string[], config: QmqpdConfig): Promise<string> {
  const [uidText, gidText, maildir] = args;
  if (!maildir) throw new PermError("usage: qmqpd --deliver-as UID GID MAILDIR");
  const ids = idsFromArgs(uidText, gidText);
  becomeIds(ids);
  checkOwnMaildir(maildir, ids.uid);
  const req = readWholeRequest(config, HELPER_GRACE_MS);
  if (!req || req.recipients.length !== 1) throw new TempError("no complete request from the delivery helper");
  const [done] = await deliverToAll([{ recipient: req.recipients[0], maildir, ...ids }], req.sender, req.message);
  return done.path;
}

/** Taking back a copy: as its owner, so the path cannot lead root anywhere. */
export function removeAsRecipient(args: readonly string[]): void {
  const [uidText, gidText, path] = args;
  if (!path) throw new PermError("usage: qmqpd --remove-as UID GID PATH");
  becomeIds(idsFromArgs(uidText, gidText));
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw new TempError(`unable to remove ${path}: ${describeSysError(err)}`);
  }
}

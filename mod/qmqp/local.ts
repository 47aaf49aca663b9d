/**
 * Delivery without a queue: each recipient's local part names a user (virtual in
 * $POPPIN_USERDB when set, else a system account at or above the uid floor), and the
 * message goes into HOME/Maildir by the Maildir protocol (mod/maildir's deliver). The
 * request is accepted only when every copy is on disk: a failure part-way removes the
 * copies already made, so the client's retry cannot duplicate mail.
 */
import { unlinkSync } from "node:fs";
import { join } from "node:path";
import { lookupVirtualUser } from "../auth/userdb.ts";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { maildirDeliver } from "../maildir/deliver.ts";
import { getpwnam } from "../sys/libc.ts";
import { restoreRoot, switchEffectiveIds } from "../sys/switch_ids.ts";
import { localDeliveryHeader } from "./received.ts";

export interface LocalTarget {
  recipient: Uint8Array;
  maildir: string;
  uid: number;
  gid: number;
}

export interface LocalConfig {
  /** $POPPIN_USERDB: virtual users; unset: system accounts. */
  userdb?: string;
  /** System accounts below this uid get no mail here (as checkpassword refuses their logins). */
  minUid: number;
  /** The Maildir's name under the home directory. */
  maildirName: string;
}

/** The local part: before the last "@", lower-cased as qmail-send does for local addresses. */
export function localPart(address: Uint8Array): Uint8Array {
  const at = address.lastIndexOf(0x40);
  const local = at < 0 ? address : address.subarray(0, at);
  return Buffer.from(Buffer.from(local).toString("latin1").toLowerCase(), "latin1");
}

/** The Maildir for a recipient, or undefined when no such user. Throws TempError when a database cannot be read. */
export function resolveRecipient(recipient: Uint8Array, config: LocalConfig): LocalTarget | undefined {
  const local = localPart(recipient);
  if (local.length === 0 || local.includes(0x2f) || local[0] === 0x2e) return undefined;
  if (config.userdb) {
    const user = lookupVirtualUser(config.userdb, local);
    if (!user || user.uid === 0) return undefined;
    return { recipient, maildir: join(user.home, config.maildirName), uid: user.uid, gid: user.gid };
  }
  let pw;
  try {
    pw = getpwnam(local);
  } catch (err) {
    throw new TempError(`unable to look up ${Buffer.from(local).toString("latin1")}: ${(err as { code?: string }).code ?? err}`);
  }
  if (!pw || pw.uid < config.minUid || pw.uid === 0) return undefined;
  return { recipient, maildir: join(pw.dir, config.maildirName), uid: pw.uid, gid: pw.gid };
}

/**
 * Runs `action` with the target's uid and gid as effective ids when we are root (qmail-local
 * runs as the user). qmqpd handles one request, so nothing else runs while the ids are switched.
 */
async function asOwner<T>(target: LocalTarget, action: () => Promise<T>): Promise<T> {
  if (process.geteuid?.() !== 0) return action();
  const switched = (step: () => void, what: string) => {
    try {
      step();
    } catch (err) {
      throw new TempError(`unable to ${what}: ${describeSysError(err)}`);
    }
  };
  try {
    switched(() => switchEffectiveIds(target), `switch to uid ${target.uid} gid ${target.gid}`);
    return await action();
  } finally {
    // Root again (sys/switch_ids.ts checks it), or the error stops the delivery.
    switched(restoreRoot, "switch back to root");
  }
}

export interface Delivered { target: LocalTarget; path: string }

/**
 * Delivers `message` (Received line included) to every target, each with qmail-local's
 * Return-Path and Delivered-To on top. All or nothing: on failure the copies made so far
 * are unlinked and the error (TempError or PermError) is thrown.
 */
export async function deliverToAll(
  targets: readonly LocalTarget[],
  sender: Uint8Array,
  message: readonly Uint8Array[],
  deliver: (maildir: string, bytes: Uint8Array) => Promise<string> = maildirDeliver,
): Promise<Delivered[]> {
  const done: Delivered[] = [];
  try {
    for (const target of targets) {
      const bytes = Buffer.concat([localDeliveryHeader(sender, target.recipient), ...message]);
      const name = await asOwner(target, () => deliver(target.maildir, bytes));
      done.push({ target, path: join(target.maildir, "new", name) });
    }
    return done;
  } catch (err) {
    // Undone as the recipient too: by now the path's directories may be links the recipient
    // made, and root would remove whatever entry of that name they point to.
    for (const d of done) {
      await asOwner(d.target, async () => {
        try { unlinkSync(d.path); } catch { /* already gone, or not the recipient's to remove: nothing to undo */ }
      });
    }
    if (err instanceof TempError || err instanceof PermError) throw err;
    throw new TempError(`unable to deliver: ${(err as Error).message}`);
  }
}

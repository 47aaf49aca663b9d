/**
 * The UIDVALIDITY of a spool Dovecot served, kept beside its other records in the owner's home
 * (`~/.SPOOLNAME.poppin-uidvalidity`): Dovecot's X-IMAPbase field lives in the spool's first
 * message, and once a client deletes that message the field is gone from the spool (Dovecot
 * would have moved it to the next one). pop3d's `--uidl-format` takes the value from the spool
 * while it is there and remembers it, so the other messages keep the UIDLs Dovecot showed.
 */
import { closeSync } from "node:fs";
import { writeFileAtomic } from "../auth/atomic_file.ts";
import { openOwnedFile, readHead, effectiveUid } from "../sys/owned_file.ts";

export const UID_VALIDITY_RECORD = "poppin-uidvalidity";

/** The value recorded in `file`, or undefined (none, not ours, not a number). */
export function readUidValidity(file: string): number | undefined {
  let text: string;
  try {
    const { fd } = openOwnedFile(file, "read", [effectiveUid()]);
    try {
      text = readHead(fd, 32).toString("latin1").trim();
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n > 0 && n <= 0xffffffff ? n : undefined;
}

/** Records `value` in `file` when it is not there already; a failure is the caller's warning. */
export function rememberUidValidity(file: string, value: number): void {
  if (readUidValidity(file) === value) return;
  writeFileAtomic(file, Buffer.from(`${value}\n`, "latin1"));
}

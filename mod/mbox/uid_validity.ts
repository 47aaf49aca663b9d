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
import { TempError, describeSysError } from "../base/errors.ts";
import { compileUidlFormat } from "../pop3/dovecot_uidl_format.ts";
import type { MboxMessage } from "./message.ts";

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

/**
 * The UIDL Dovecot showed for each message of a spool (`records`, in spool order), for
 * pop3d's and convert's `--uidl-format`: the format over the message's X-UID and the
 * UIDVALIDITY of the first message's X-IMAPbase (remembered in `recordFile`, and taken from
 * there once that field is gone). Undefined for a message without X-UID (mail delivered
 * after Dovecot's last session) or when no UIDVALIDITY is known: poppin's own UIDL then.
 */
export function dovecotSpoolUidls(records: readonly MboxMessage[], format: string, recordFile: string | undefined, onWarning?: (m: string) => void): (m: MboxMessage) => string | undefined {
  const expand = compileUidlFormat(format, false);
  let uidValidity = records[0]?.uidValidity;
  if (recordFile !== undefined) {
    if (uidValidity === undefined) uidValidity = readUidValidity(recordFile);
    else {
      try {
        rememberUidValidity(recordFile, uidValidity);
      } catch (e) {
        onWarning?.(`unable to record the UIDVALIDITY in ${recordFile}: ${e instanceof TempError ? e.message : describeSysError(e)}`);
      }
    }
  }
  return (m) => (uidValidity !== undefined && m.xUid !== undefined ? expand({ uid: m.xUid, uidValidity }) : undefined);
}

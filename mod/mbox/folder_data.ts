/**
 * UW IMAP's (c-client's) "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA" message: the
 * first message of a spool that UW imapd or pine keeps its UIDVALIDITY and next UID in, in an
 * `X-IMAP: UIDVALIDITY NEXTUID` field. It is not mail: Dovecot (mbox-sync-parse.c) and
 * Qpopper (uw-kludge) never show it to POP3 clients, which would otherwise download it and,
 * deleting after download, reset every IMAP client's cache of that spool. It is kept in the
 * spool untouched (a rewrite at QUIT copies it like any message that was not deleted).
 */
import { readSync } from "node:fs";
import type { MboxMessage } from "./message.ts";

/** A header this long is more than c-client writes: such a message is not its folder data. */
const MAX_HEADER = 64 * 1024;

/** As Dovecot: the spool's first message (its From_ line at offset 0) with a well-formed X-IMAP field. */
export function isFolderInternalData(fd: number, m: MboxMessage): boolean {
  if (m.fromOffset !== 0 || m.hiddenFields === undefined || m.headerEnd - m.start > MAX_HEADER) return false;
  const header = Buffer.alloc(m.headerEnd - m.start);
  if (readSync(fd, header, 0, header.length, m.start) !== header.length) return false;
  return /(?:^|\n)X-IMAP:[ \t]*\d+[ \t]+\d+[ \t]*\r?(?:\n|$)/i.test(header.toString("latin1"));
}

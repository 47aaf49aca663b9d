/**
 * What the POP3 engine needs of a mail store: the list of messages with their
 * sizes and UIDLs, reading one message as a stream, and removing messages at QUIT.
 * Maildir is one backend (maildir_mailbox.ts); an mbox backend can be another.
 */
import type { MessageInfo } from "./transaction.ts";

/** An open message: read(buf) fills buf from the start and returns the count, 0 at the end. */
export interface MessageReader {
  read(buf: Uint8Array): number;
  /**
   * Asked once what was read went out (RETR and TOP alike), before the terminating dot: whether
   * the message was still where the listing found it the whole time (absent: always).
   */
  intact?(): boolean;
  close(): void;
}

export interface RemoveResult {
  /** Messages removed now, or found already gone (another session removed them). */
  removed: number;
  /** Messages that could not be removed; each is described in `problems`. */
  unremoved: number;
  problems: string[];
  /** Messages removed besides those asked for (EXPIRE: retrieved long enough ago), 0-based. */
  alsoRemoved?: readonly number[];
}

export interface Mailbox {
  readonly messages: readonly MessageInfo[];
  /** Opens message `index` (0-based). Throws a system error (code ENOENT when it vanished). */
  open(index: number): MessageReader;
  /** Told that message `index` was sent whole (RETR, not TOP): the mbox backend marks it read at QUIT. */
  retrieved?(index: number): void;
  /** Removes the messages at `indices` (0-based). Never throws. */
  remove(indices: readonly number[]): RemoveResult;
}

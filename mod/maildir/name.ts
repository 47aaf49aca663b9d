/**
 * Maildir file names: unique names for delivery, the info suffix, the
 * `,S=`/`,W=` size fields, UIDLs and name validation.
 *
 * Name grammar (djb's maildir(5), Maildir++ and Dovecot extensions):
 *   UNIQUE[,S=<size>][,W=<crlf size>][:2,FLAGS]
 * where UNIQUE is `time.M<usec>P<pid>.<host>` for names we make.
 */
import { wallClock } from "../sys/clock.ts";

/** The separator between a message's unique part and its info (maildir(5)). */
export const INFO_SEPARATOR = ":";
/** The info qmail-pop3d appends when it moves a message from new/ to cur/ ("version 2, no flags"). */
export const INFO_NEW_TO_CUR = ":2,";

/**
 * qmail-pop3d's UIDL: the file name cut at the first ':' (qmail-pop3d.c printfn).
 * Stable across flag changes, which only touch the part after ':'.
 */
export function uidlOf(name: string): string {
  const colon = name.indexOf(INFO_SEPARATOR);
  return colon < 0 ? name : name.slice(0, colon);
}

/**
 * Whether `name` may be a message file name: not empty, no '/' or NUL, no leading '.'
 * (maildir(5): readers ignore dot files, and '/' or NUL cannot be in a name at all).
 */
export function isValidMessageName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name[0] !== "." && !name.includes("/") && !name.includes("\0");
}

/** Escapes a host name as maildir(5) asks: '/' becomes "\057" and ':' becomes "\072". */
export function escapeHost(host: string): string {
  return host.replaceAll("\\", "\\134").replaceAll("/", "\\057").replaceAll(":", "\\072");
}

/** A wall-clock instant split as the unique name wants it. */
export interface NameClock {
  sec: number;
  usec: number;
}

/**
 * The wall clock with microseconds (clock_gettime(CLOCK_REALTIME) through mod/sys/clock.ts:
 * Date.now() has only milliseconds, and performance.now() ignores the clock being set).
 */
export function clockNow(): NameClock {
  const now = wallClock();
  return { sec: now.sec, usec: Math.floor(now.nsec / 1000) };
}

/** `time.M<usec>P<pid>.<host>`: the modern unique name of maildir(5). */
export function uniqueName(clock: NameClock, pid: number, host: string): string {
  return `${clock.sec}.M${clock.usec}P${pid}.${escapeHost(host)}`;
}

/** Appends the Maildir++ `,S=` and Dovecot `,W=` fields to a unique name. */
export function withSizes(unique: string, fileSize: number, crlfSize: number): string {
  return `${unique},S=${fileSize},W=${crlfSize}`;
}

/** Size fields found in a name's unique part; undefined where absent or malformed. */
export interface NameSizes {
  fileSize?: number;
  crlfSize?: number;
}

const DIGITS = /^[0-9]{1,15}$/;

/** Reads `,S=` and `,W=` from the part before ':' (Dovecot puts them there: `UNIQUE,S=1,W=2:2,S`). */
export function sizesFromName(name: string): NameSizes {
  const unique = uidlOf(name);
  const sizes: NameSizes = {};
  let comma = unique.indexOf(",");
  while (comma >= 0) {
    const next = unique.indexOf(",", comma + 1);
    const field = unique.slice(comma + 1, next < 0 ? undefined : next);
    if (field.length > 2 && field[1] === "=") {
      const value = field.slice(2);
      if (DIGITS.test(value)) {
        if (field[0] === "S") sizes.fileSize = Number(value);
        else if (field[0] === "W") sizes.crlfSize = Number(value);
      }
    }
    comma = next;
  }
  return sizes;
}

/** The name a message gets when qmail-pop3d moves it from new/ to cur/: ":2," appended unless it has info already. */
export function curNameFor(newName: string): string {
  return newName.includes(INFO_SEPARATOR) ? newName : newName + INFO_NEW_TO_CUR;
}

import { TempError } from "../base/errors.ts";

/**
 * A cdb whose structure points outside the file or contradicts itself (truncated, or
 * not a cdb at all). Temporary in djb's sense: the reader cannot answer until the file
 * is rebuilt, so callers such as tcpserver must not treat it as "no rule".
 * The message is the one djb's tools print for the same condition.
 */
export class CdbFormatError extends TempError {
  readonly code = "EPROTO";
  constructor(detail: string) {
    super(detail);
  }
}

/** A system call on a cdb failed; `code` is the errno name (ENOENT, EACCES...). */
export class CdbIoError extends TempError {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

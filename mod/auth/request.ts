/**
 * The checkpassword interface (djb, cr.yp.to/checkpwd/interface.html): the caller
 * writes `login\0password\0timestamp\0` to fd 3 and closes it. djb's checkpassword
 * reads into a 513-byte buffer and refuses (exit 1) when it fills: so at most 512
 * bytes are accepted. The timestamp (and its NUL) may be missing.
 */
import { readSync, closeSync, fstatSync } from "node:fs";
import { logValue } from "../base/log_value.ts";
import { EXIT_AUTH_FAILED, EXIT_MISUSE, PoppinError, TempError, describeSysError } from "../base/errors.ts";

/** checkpassword.c: `static char up[513]`; filling it is "oversized data", exit 1. */
export const CHECKPASSWORD_BUFFER = 513;
export const CHECKPASSWORD_MAX_DATA = CHECKPASSWORD_BUFFER - 1;

/** What the caller sent on fd 3. Zero `raw` (wipe()) when done: it holds the password. */
export interface CheckpasswordRequest {
  login: Uint8Array;
  password: Uint8Array;
  /** Empty when the caller sent none (or for USER/PASS from a popup that sends none). */
  timestamp: Uint8Array;
  raw: Uint8Array;
}

/** Refused login: exit 1, printed by nobody (djb's checkpassword is silent). */
export class AuthRefused extends PoppinError {
  constructor(reason: string) {
    super(reason, EXIT_AUTH_FAILED);
  }
}

/**
 * The proof was right but a policy refuses the account (an expired or locked shadow entry,
 * a uid below POPPIN_MIN_UID, a home outside POPPIN_HOME_BASE): still exit 1 and the same
 * answer and cost as a wrong password, but the administrator gets one line saying why, since
 * "authorization failed" alone hides a setting to change (a Dovecot first_valid_uid of 500).
 */
export class AccountRefused extends AuthRefused {
  readonly login: Uint8Array;
  constructor(reason: string, login: Uint8Array) {
    super(reason);
    this.login = Uint8Array.from(login);
  }
}

/** The warning's text (after "warning: ") for an AccountRefused: never the password. */
export function accountRefusedLine(err: AccountRefused, remoteIp: string | undefined): string {
  return `account refused user=${logValue(err.login)} rip=${logValue(remoteIp ?? "unknown")} why=${logValue(err.message)}`;
}

/** Data on fd 3 that does not follow the interface: exit 2. */
export class MalformedRequest extends PoppinError {
  constructor(reason: string) {
    super(reason, EXIT_MISUSE);
  }
}

/**
 * Whether `fd` is something a caller can hand us (pipe, socket, file, tty). When the
 * caller left fd 3 closed, Bun's runtime takes that number for its own epoll fd at
 * start-up (an anonymous inode with no file type): reading or closing it would be
 * wrong, so that counts as "fd 3 not open" (EBADF, exit 111 as in checkpassword.c).
 */
export function isInheritedFd(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket() || st.isFile() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

/** Reads fd 3 to end of file, at most CHECKPASSWORD_MAX_DATA bytes; closes it. */
export function readRequestFd(fd = 3): Uint8Array {
  if (!isInheritedFd(fd)) throw new TempError(`unable to read fd ${fd}: bad file descriptor`);
  const buf = new Uint8Array(CHECKPASSWORD_BUFFER);
  let length = 0;
  let idle = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, length, buf.length - length, null);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EINTR") continue;
      // A non-blocking pipe from the caller: wait for it, bounded (about 60 s).
      if (code === "EAGAIN" && idle++ < 30_000) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      buf.fill(0);
      throw new TempError(`unable to read fd ${fd}: ${describeSysError(err)}`);
    }
    if (n === 0) break;
    length += n;
    if (length >= buf.length) {
      buf.fill(0);
      throw new AuthRefused("more than 512 bytes of data");
    }
  }
  try { closeSync(fd); } catch { /* as djb: close(3) and carry on */ }
  return buf.subarray(0, length);
}

/** Splits `login\0password\0[timestamp\0]` exactly as checkpassword.c does; throws MalformedRequest. */
export function parseRequest(raw: Uint8Array): CheckpasswordRequest {
  const loginEnd = raw.indexOf(0);
  if (raw.length === 0 || loginEnd < 0 || loginEnd + 1 >= raw.length) {
    throw new MalformedRequest("no password in the data");
  }
  const passwordEnd = raw.indexOf(0, loginEnd + 1);
  if (passwordEnd < 0) throw new MalformedRequest("password not terminated by NUL");
  let timestampEnd = raw.indexOf(0, passwordEnd + 1);
  if (timestampEnd < 0) timestampEnd = raw.length;
  return {
    login: raw.subarray(0, loginEnd),
    password: raw.subarray(loginEnd + 1, passwordEnd),
    timestamp: raw.subarray(passwordEnd + 1, timestampEnd),
    raw,
  };
}

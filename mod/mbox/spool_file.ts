/**
 * Opening a spool as its owner. A spool directory others can write in (/var/mail with the
 * sticky bit, or group mail) lets another user create the victim's spool name before the
 * first delivery, as a file of theirs or a link: the session would then serve, and at QUIT
 * rewrite, a file that user controls. So a spool must be a regular file owned by the user
 * the session runs as (Qpopper refuses the same way), and in a directory that is not the
 * user's own it is never reached through a symbolic link, nor is it a hard link (another
 * user may link one of the victim's own files there where fs.protected_hardlinks is off).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { effectiveUid, UntrustedFile } from "../sys/owned_file.ts";
import { sysErrorCode } from "../base/errors.ts";

/** Opens `path` read-only or read-write (O_NONBLOCK: a FIFO never hangs the session), checked as above. Throws UntrustedFile, or the system error. */
export function openSpoolFile(path: string, mode: "read" | "readwrite"): number {
  let noFollow = 0;
  try {
    if (lstatSync(dirname(path)).uid !== effectiveUid()) noFollow = constants.O_NOFOLLOW;
  } catch {
    noFollow = constants.O_NOFOLLOW;
  }
  let fd: number;
  try {
    fd = openSync(path, (mode === "read" ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK | noFollow);
  } catch (e) {
    if (sysErrorCode(e) === "ELOOP" && noFollow !== 0) throw new UntrustedFile(path, "is a symbolic link in a directory that is not the user's");
    throw e;
  }
  const st = fstatSync(fd);
  const why = !st.isFile() ? "is not a regular file"
    : st.uid !== effectiveUid() ? `belongs to uid ${st.uid}, not to uid ${effectiveUid()} reading it`
    : noFollow !== 0 && st.nlink !== 1 ? `has ${st.nlink} links in a directory that is not the user's` : undefined;
  if (why !== undefined) {
    closeSync(fd);
    throw new UntrustedFile(path, why);
  }
  return fd;
}

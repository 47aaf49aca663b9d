/**
 * Maildir++ quotas (Courier's README.maildirquota, kept by maildrop, Courier, Dovecot's
 * quota=maildir, vpopmail): a Maildir with quotas has a `maildirsize` file, its first line the
 * limits ("10000000S,1000C"), then lines "BYTES COUNT" whose sums are the Maildir's usage. A
 * program that removes messages appends one line with both numbers negative, in one write(2)
 * on a descriptor opened with O_APPEND, so concurrent writers never interleave. pop3d does
 * that at QUIT, as Courier's pop3d and Dovecot's do: without it the usage stays counted until
 * a delivery agent recomputes the file, and mail to a user who emptied their box is deferred as
 * over quota meanwhile. A Maildir without the file has no quota: nothing is created.
 */
import { closeSync, writeSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { describeSysError } from "../base/errors.ts";
import { logValue } from "../base/log_value.ts";
import { openRegularFile } from "../sys/owned_file.ts";

export const MAILDIRSIZE_FILE = "maildirsize";

/**
 * Records that `count` messages of `bytes` octets (their sizes on disk, `,S=`) were removed
 * from Maildir `dir`. Returns a problem for the log, or undefined (recorded, or no quota file).
 * The file is the user's: opened without following a link and without waiting (a FIFO at the
 * name fails), written only when it is a regular file.
 */
export function recordQuotaRemoval(dir: string, bytes: number, count: number): string | undefined {
  if (count <= 0) return undefined;
  const path = join(dir, MAILDIRSIZE_FILE);
  let fd: number;
  try {
    fd = openRegularFile(path, "append", { follow: false }).fd;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    return `unable to update ${logValue(path)}: ${describeSysError(e)}`;
  }
  try {
    const line = Buffer.from(`-${bytes} -${count}\n`, "latin1");
    const written = writeSync(fd, line, 0, line.length);
    return written === line.length ? undefined : `unable to update ${logValue(path)}: short write`;
  } catch (e) {
    return `unable to update ${logValue(path)}: ${describeSysError(e)}`;
  } finally {
    closeSync(fd);
  }
}

/**
 * systemd socket activation (sd_listen_fds(3)): the listening socket arrives as fd 3 when
 * LISTEN_PID is this process and LISTEN_FDS is at least 1.
 */
import { TempError } from "../base/errors.ts";

/** SD_LISTEN_FDS_START: the first inherited socket. */
export const LISTEN_FDS_START = 3;

export function inheritedListenFd(env: Readonly<Record<string, string | undefined>>, pid: number): number {
  const fds = Number(env.LISTEN_FDS ?? "");
  const forPid = Number(env.LISTEN_PID ?? "");
  if (!Number.isInteger(fds) || fds < 1) throw new TempError("unable to use the systemd socket: LISTEN_FDS is not set");
  if (forPid !== pid) throw new TempError(`unable to use the systemd socket: LISTEN_PID is ${env.LISTEN_PID ?? "unset"}, not ${pid}`);
  return LISTEN_FDS_START;
}

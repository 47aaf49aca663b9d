/** From pop3d's "mbox:..." argument and options to an open MboxMailbox. */
import { PermError } from "../base/errors.ts";
import { MboxMailbox, defaultTempDir } from "./mbox_mailbox.ts";
import type { MboxSettings } from "./options.ts";
import { spoolPathFor } from "./spool_path.ts";
import { basename, join } from "../base/posix_path.ts";
import { UID_VALIDITY_RECORD } from "./uid_validity.ts";

/** Where --uidl-format remembers a spool's UIDVALIDITY: `~/.SPOOLNAME.poppin-uidvalidity` (never beside a shared spool). */
export function uidValidityFileFor(spool: string, home: string | undefined): string | undefined {
  return home === undefined || home === "" ? undefined : join(home, `.${basename(spool)}.${UID_VALIDITY_RECORD}`);
}


export function openSpoolMailbox(arg: string, s: MboxSettings, env: { user?: string; home?: string; cwd: string }, onWarning: (m: string) => void): MboxMailbox {
  const spool = spoolPathFor(arg, s.layout, env);
  if (spool === undefined) throw new PermError(`unable to find the spool of ${arg}: USER or HOME not set`);
  return new MboxMailbox({
    spool,
    tempDir: s.tempDir ?? defaultTempDir(spool, env.home),
    lock: { methods: s.lockMethods, timeoutMs: s.lockTimeoutMs, staleSeconds: s.staleSeconds, onDotLockUnavailable: onWarning },
    update: s.update,
    statusUpdate: s.statusUpdate,
    cache: s.cache,
    uidlFormat: s.uidlFormat,
    uidValidityFile: uidValidityFileFor(spool, env.home),
    onWarning,
  });
}

/**
 * pop3d's options for mbox spools, named after Qpopper's run-time options:
 *   --spool-dir=DIR         where `mbox:` finds USER's spool (default /var/mail)
 *   --hash-spool=0|1|2      Qpopper's hashed spool directories
 *   --home-dir-mail=NAME    the spool is $HOME/NAME instead
 *   --temp-dir=DIR          where an in-place rewrite keeps its journal
 *                           (default: the spool's directory if writable, else $HOME)
 *   --update=auto|rename|inplace   how QUIT rewrites the spool (write_spool.ts)
 *   --no-status-update      Qpopper's update-status-headers off: no Status: RO
 *   --no-cache              no scan cache (.NAME.poppin-cache in the temp directory)
 *   --lock=dotlock,fcntl[,flock]   which locks (default dotlock,fcntl)
 *   --lock-timeout=SECONDS  how long to wait for a delivery's lock (default 10)
 *   --lock-stale=SECONDS    a dot-lock older than this is broken (default 300)
 *   --uidl-format=FORMAT    Dovecot's pop3_uidl_format over its X-UID and X-IMAPbase fields:
 *                           the UIDLs Dovecot showed for the spool (mod/pop3/dovecot_uidl_format.ts)
 */
import { DEFAULT_LOCK_METHODS, DEFAULT_STALE_SECONDS, parseLockMethods, type LockMethod } from "./lock_names.ts";
import { DEFAULT_SPOOL_DIR, type SpoolLayout } from "./spool_path.ts";
import type { UpdateMode } from "./write_spool.ts";
import { compileUidlFormat } from "../pop3/dovecot_uidl_format.ts";

export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10;

export interface MboxSettings {
  layout: SpoolLayout;
  tempDir?: string;
  update: UpdateMode;
  statusUpdate: boolean;
  cache: boolean;
  lockMethods: readonly LockMethod[];
  lockTimeoutMs: number;
  staleSeconds: number;
  /** Dovecot's pop3_uidl_format: UIDLs from Dovecot's X-UID fields (undefined: poppin's own). */
  uidlFormat?: string;
}

export function defaultMboxSettings(): MboxSettings {
  return {
    layout: { spoolDir: DEFAULT_SPOOL_DIR, hashSpool: 0 },
    update: "auto",
    statusUpdate: true,
    cache: true,
    lockMethods: DEFAULT_LOCK_METHODS,
    lockTimeoutMs: DEFAULT_LOCK_TIMEOUT_SECONDS * 1000,
    staleSeconds: DEFAULT_STALE_SECONDS,
  };
}

function seconds(text: string): number | undefined {
  return /^[0-9]{1,6}$/.test(text) ? Number(text) : undefined;
}

/**
 * Applies one option to `s`. Returns "no" when `arg` is not an mbox option,
 * "bad" when it is one with an unusable value.
 */
export function applyMboxOption(s: MboxSettings, arg: string): "ok" | "no" | "bad" {
  const eq = arg.indexOf("=");
  const name = eq < 0 ? arg : arg.slice(0, eq);
  const value = eq < 0 ? undefined : arg.slice(eq + 1);
  const need = (f: (v: string) => boolean): "ok" | "bad" => (value !== undefined && value !== "" && f(value) ? "ok" : "bad");
  switch (name) {
    case "--spool-dir": return need((v) => { s.layout.spoolDir = v; return true; });
    case "--hash-spool": return need((v) => {
      if (v !== "0" && v !== "1" && v !== "2") return false;
      s.layout.hashSpool = Number(v) as 0 | 1 | 2;
      return true;
    });
    case "--home-dir-mail": return need((v) => { s.layout.homeDirMail = v; return !v.startsWith("/"); });
    case "--temp-dir": return need((v) => { s.tempDir = v; return true; });
    case "--update": return need((v) => {
      if (v !== "auto" && v !== "rename" && v !== "inplace") return false;
      s.update = v;
      return true;
    });
    case "--no-status-update":
      if (value !== undefined) return "bad";
      s.statusUpdate = false;
      return "ok";
    case "--no-cache":
      if (value !== undefined) return "bad";
      s.cache = false;
      return "ok";
    case "--lock": return need((v) => {
      const methods = parseLockMethods(v);
      if (methods) s.lockMethods = methods;
      return methods !== undefined;
    });
    case "--lock-timeout": return need((v) => {
      const n = seconds(v);
      if (n !== undefined) s.lockTimeoutMs = n * 1000;
      return n !== undefined;
    });
    case "--uidl-format": return need((v) => {
      try {
        compileUidlFormat(v, false);
      } catch {
        return false;
      }
      s.uidlFormat = v;
      return true;
    });
    case "--lock-stale": return need((v) => {
      const n = seconds(v);
      if (n !== undefined && n > 0) s.staleSeconds = n;
      return n !== undefined && n > 0;
    });
    default: return "no";
  }
}

/**
 * Arguments of `poppin conf`: the kind of service, qmail-conf's positional arguments,
 * and poppin's few extras (--systemd, --port, --host, --cert/--key, --name).
 */
import { nodeNet } from "../sys/builtins.ts";
import { getpwnam, type PasswdEntry } from "../sys/libc.ts";

export type ConfKind = "pop3d" | "pop3s" | "qmqpd";

export interface ConfRequest {
  kind: ConfKind;
  systemd: boolean;
  /** pop3d/pop3s: the checkpassword program; qmqpd: undefined. */
  checkpassword?: string;
  /** qmqpd: the account serve runs qmqpd as (-U through envuidgid). */
  runAccount?: PasswdEntry;
  logAccount: PasswdEntry;
  dir: string;
  ip: string;
  port: string;
  /** popup's host name in the greeting. */
  host: string;
  cert?: string;
  key?: string;
  /** systemd unit name (default: the directory's base name). */
  unitName?: string;
  /** --mbox: pop3d serves the user's mbox spool (`mbox:`) instead of ~/Maildir. */
  mbox: boolean;
  /** --spool-dir: where mbox: finds the spools (pop3d's --spool-dir; default /var/mail). */
  spoolDir?: string;
}

export const SYNOPSIS: Record<ConfKind, string> = {
  pop3d: "checkpassword logacct /pop3d [ ip ]",
  pop3s: "checkpassword logacct /pop3s [ ip ]",
  qmqpd: "qmqpdacct logacct /qmqpd [ ip ]",
};

/** The classic name per kind (qmail-conf's programs). */
export const CLASSIC: Record<ConfKind, string> = { pop3d: "qmail-pop3d-conf", pop3s: "qmail-pop3s-conf", qmqpd: "qmail-qmqpd-conf" };

export const DEFAULT_PORT: Record<ConfKind, string> = { pop3d: "110", pop3s: "995", qmqpd: "628" };

export type ConfParse =
  | { ok: true; request: ConfRequest }
  | { ok: false; usage: true; kind?: ConfKind; why?: string }
  | { ok: false; usage: false; message: string };

const WITH_VALUE = new Set(["--port", "--host", "--cert", "--key", "--name", "--spool-dir"]);

/**
 * What is wrong with the IP argument, or undefined. serve (as tcpserver) also takes a host
 * name there, but a systemd socket unit's ListenStream= takes only an address; and a dotted
 * quad out of range (300.1.1.1) is a typo either way, which qmail-conf wrote on trust and
 * left for the service to fail on.
 */
function ipProblem(ip: string, systemd: boolean): string | undefined {
  if (ip === "0") return undefined;
  const isAddress = nodeNet().isIP(ip) !== 0;
  if (isAddress) return undefined;
  if (systemd) return `--systemd needs an IP address (ListenStream=), not ${ip}`;
  if (/^[0-9.]+$/.test(ip) || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(ip)) return `bad IP address ${ip}`;
  return undefined;
}

export function parseConfArgs(args: readonly string[], defaultHost: string): ConfParse {
  const positional: string[] = [];
  const values = new Map<string, string>();
  let systemd = false;
  let mbox = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--systemd") { systemd = true; continue; }
    if (a === "--mbox") { mbox = true; continue; }
    const eq = a.indexOf("=");
    const name = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    if (WITH_VALUE.has(name)) {
      const value = eq > 0 && a.startsWith("--") ? a.slice(eq + 1) : args[++i];
      if (value === undefined) return { ok: false, usage: true, why: `${name} needs a value` };
      values.set(name, value);
      continue;
    }
    if (a.startsWith("--") && a.length > 2) return { ok: false, usage: true, why: `unknown option ${a}` };
    positional.push(a);
  }
  const kind = positional.shift() as ConfKind | undefined;
  if (kind !== "pop3d" && kind !== "pop3s" && kind !== "qmqpd") return { ok: false, usage: true };
  const [first, logacct, dir, ip] = positional;
  if (!first || !logacct || !dir) return { ok: false, usage: true, kind };
  // qmail-conf's generators want an absolute DIR (run scripts and units name it); say why.
  if (!dir.startsWith("/")) return { ok: false, usage: true, kind, why: `the directory must be an absolute path, not ${dir}` };
  if (ip !== undefined) {
    const why = ipProblem(ip, systemd);
    if (why !== undefined) return { ok: false, usage: true, kind, why };
  }
  const port = values.get("--port") ?? DEFAULT_PORT[kind];
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return { ok: false, usage: true, kind, why: `bad port ${port}` };
  const spoolDir = values.get("--spool-dir");
  if ((mbox || spoolDir !== undefined) && kind === "qmqpd") return { ok: false, usage: true, kind, why: "--mbox and --spool-dir are for pop3d and pop3s" };
  if (spoolDir !== undefined && (!spoolDir.startsWith("/") || /[\n\0]/.test(spoolDir))) return { ok: false, usage: true, kind, why: `--spool-dir wants an absolute directory, not ${spoolDir}` };
  let runAccount: PasswdEntry | undefined;
  if (kind === "qmqpd") {
    runAccount = getpwnam(first);
    if (!runAccount) return { ok: false, usage: false, message: `unknown account ${first}` };
  }
  const logAccount = getpwnam(logacct);
  if (!logAccount) return { ok: false, usage: false, message: `unknown account ${logacct}` };
  return {
    ok: true,
    request: {
      kind,
      systemd,
      checkpassword: kind === "qmqpd" ? undefined : first,
      runAccount,
      logAccount,
      dir: dir.replace(/\/+$/, "") || "/",
      ip: ip ?? "0",
      port,
      host: values.get("--host") ?? defaultHost,
      cert: values.get("--cert"),
      key: values.get("--key"),
      unitName: values.get("--name"),
      mbox: mbox || spoolDir !== undefined,
      spoolDir,
    },
  };
}

/** The parts every generated service shares: rules file, Makefile, add-client, env/, the serve command. */
import type { ConfRequest } from "./options.ts";
import { shellLine, type PlanEntry } from "./plan.ts";

/** tcp: deny everyone until add-client and make (qmail-conf's start). */
export function tcpRules(): string {
  return [
    "# Who may connect: one rule a line in tcprules syntax; the most specific match wins.",
    "# ./add-client 192.0.2.7 appends \"192.0.2.7:allow\"; then run make to compile tcp.cdb.",
    ":deny",
    "",
  ].join("\n");
}

export function makefile(poppin: string): string {
  return `SHELL=/bin/sh\n\ntcp.cdb: tcp\n\t${shellLine([poppin, "rules", "compile", "tcp.cdb", "tcp.tmp"])} < tcp\n`;
}

/** add-client, word for word what qmail-conf writes. */
export function addClient(): string {
  return [
    "#!/bin/sh",
    "test $# = 0 && exit",
    "cp tcp tcp.new",
    "chmod 644 tcp.new",
    "for address in \"$@\"",
    "  do",
    "    echo \"$address\"':allow'",
    "  done >> tcp.new",
    "mv tcp.new tcp",
    "",
  ].join("\n");
}

/** An empty env/ file: envdir removes the variable, so the run script's default applies. */
function knob(path: string, value: string | undefined): PlanEntry {
  return { kind: "file", path: `env/${path}`, content: value === undefined ? "" : `${value}\n`, mode: 0o644 };
}

/** The certificate pair: pop3s always (Debian's ssl-cert pair unless given), pop3d when --cert gives one (STLS). */
function certificateEntries(req: ConfRequest): PlanEntry[] {
  if (req.kind === "pop3s") {
    return [
      knob("CERTFILE", req.cert ?? "/etc/ssl/certs/ssl-cert-snakeoil.pem"),
      knob("KEYFILE", req.key ?? (req.cert === undefined ? "/etc/ssl/private/ssl-cert-snakeoil.key" : req.cert)),
    ];
  }
  if (req.kind === "pop3d" && req.cert !== undefined) return [knob("CERTFILE", req.cert), knob("KEYFILE", req.key ?? req.cert)];
  return [];
}

/**
 * env/: variables the run script passes to the chain (envdir), one file each. With
 * `knobs` (the daemontools run script), also qmail-conf's settings that the run script
 * reads: IP, PORT, CONCURRENCY, BACKLOG, LOCALNAME; for pop3d and pop3s POPUPHOST,
 * MAILDIRNAME, and SPOOLDIR for mbox spools.
 */
export function envEntries(req: ConfRequest, knobs = false): PlanEntry[] {
  const entries: PlanEntry[] = [{ kind: "dir", path: "env", mode: 0o2755 }];
  if (knobs) {
    // qmqpd: TCPLOCALHOST is the host name its Received: line names.
    entries.push(knob("IP", req.ip), knob("PORT", req.port), knob("CONCURRENCY", undefined), knob("BACKLOG", undefined),
      knob("LOCALNAME", req.kind === "qmqpd" ? req.host : "0"));
    if (req.kind !== "qmqpd") {
      entries.push(knob("POPUPHOST", req.host), knob("MAILDIRNAME", req.mbox ? "mbox:" : undefined), knob("SPOOLDIR", req.spoolDir));
    }
  }
  entries.push(...certificateEntries(req));
  return entries;
}

/**
 * serve's flags as qmail-conf's tcpserver line has them: verbose, no Nagle, no DNS, no ident.
 * qmqpd gets no -U: it starts as root and splits itself (the client is read as envuidgid's
 * $UID/$GID, each copy written as its recipient), and -l names this host for its Received
 * line, as qmail's run scripts pass control/me.
 */
export function serveFlags(req: ConfRequest): string[] {
  const flags = req.kind === "qmqpd" ? ["-vDHR", "-l", req.host] : ["-vDHR", "-l0"];
  if (req.kind === "pop3s") flags.unshift("--tls");
  return flags;
}

/** qmqpd's account, as $UID and $GID for its network side. */
export function envuidgidArgs(req: ConfRequest, poppin: string): string[] {
  return req.kind === "qmqpd" ? [poppin, "envuidgid", req.runAccount!.name] : [];
}

/** The program serve runs for each connection. */
export function chainArgs(req: ConfRequest, poppin: string): string[] {
  if (req.kind === "qmqpd") return [poppin, "qmqpd"];
  const mailbox = req.mbox ? [...(req.spoolDir === undefined ? [] : [`--spool-dir=${req.spoolDir}`]), "mbox:"] : ["Maildir"];
  return [poppin, "popup", req.host, req.checkpassword!, poppin, "pop3d", ...mailbox];
}

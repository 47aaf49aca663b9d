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

/** env/: variables the run script passes to the chain (envdir), one file each. */
export function envEntries(req: ConfRequest): PlanEntry[] {
  const entries: PlanEntry[] = [{ kind: "dir", path: "env", mode: 0o2755 }];
  if (req.kind === "pop3s") {
    // Debian's ssl-cert package makes this pair; point them at the real certificate.
    entries.push({ kind: "file", path: "env/CERTFILE", content: `${req.cert ?? "/etc/ssl/certs/ssl-cert-snakeoil.pem"}\n`, mode: 0o644 });
    entries.push({ kind: "file", path: "env/KEYFILE", content: `${req.key ?? "/etc/ssl/private/ssl-cert-snakeoil.key"}\n`, mode: 0o644 });
  }
  return entries;
}

/** serve's flags as qmail-conf's tcpserver line has them: verbose, no Nagle, no DNS, no ident; -U for qmqpd. */
export function serveFlags(req: ConfRequest): string[] {
  // -U: uid and gid from envuidgid; under systemd, User= does that instead.
  const flags = [req.kind === "qmqpd" && !req.systemd ? "-vDUHR" : "-vDHR", "-l0"];
  if (req.kind === "pop3s") flags.unshift("--tls");
  return flags;
}

/** The program serve runs for each connection. */
export function chainArgs(req: ConfRequest, poppin: string): string[] {
  if (req.kind === "qmqpd") return [poppin, "qmqpd"];
  return [poppin, "popup", req.host, req.checkpassword!, poppin, "pop3d", "Maildir"];
}

/**
 * The same service for systemd: NAME.socket (the listening socket, handed to serve by
 * socket activation) and NAME.service (serve --systemd, logging to the journal), next to
 * the same tcp, Makefile, add-client and env/ as the daemontools layout.
 */
import { basename } from "node:path";
import type { ConfRequest } from "./options.ts";
import { addClient, chainArgs, envEntries, envuidgidArgs, makefile, serveFlags, tcpRules } from "./common.ts";
import type { ServicePlan } from "./plan.ts";

/** systemd's own quoting for ExecStart: double quotes where a word needs them, % doubled. */
function unitWord(word: string): string {
  const escaped = word.replace(/%/g, "%%");
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function unitName(req: ConfRequest): string {
  return req.unitName ?? basename(req.dir);
}

function listenAddress(req: ConfRequest): string {
  if (req.ip === "0" || req.ip === "0.0.0.0" || req.ip === "::") return req.port;
  return req.ip.includes(":") ? `[${req.ip}]:${req.port}` : `${req.ip}:${req.port}`;
}

export function execStart(req: ConfRequest, poppin: string): string[] {
  return [...envuidgidArgs(req, poppin), poppin, "envdir", `${req.dir}/env`, poppin, "serve", "--systemd", ...serveFlags(req), "-x", `${req.dir}/tcp.cdb`, ...chainArgs(req, poppin)];
}

export function socketUnit(req: ConfRequest): string {
  return [
    "[Unit]",
    `Description=poppin ${req.kind} listening socket (${listenAddress(req)})`,
    "",
    "[Socket]",
    `ListenStream=${listenAddress(req)}`,
    "BindIPv6Only=both",
    "# One long-running serve accepts every connection, as tcpserver does.",
    "Accept=no",
    "Backlog=20",
    "",
    "[Install]",
    "WantedBy=sockets.target",
    "",
  ].join("\n");
}

/** Hardening that never gets in the way of the chain switching to each mail user. */
const COMMON_HARDENING = [
  "PrivateTmp=yes",
  "ProtectSystem=full",
  "ProtectKernelTunables=yes",
  "ProtectKernelModules=yes",
  "ProtectControlGroups=yes",
  "ProtectClock=yes",
  "ProtectHostname=yes",
  "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
  "RestrictNamespaces=yes",
  "RestrictRealtime=yes",
  "LockPersonality=yes",
  "SystemCallArchitectures=native",
];

/** The [Service] lines that fence a unit of this kind in (comments included): conf's units and the package's use the same. */
export function hardening(kind: ConfRequest["kind"], qmqpdAccount = "QMQPDACCT"): string[] {
  const who = kind === "qmqpd"
    ? [
      "# qmqpd starts as root and splits itself: it reads the client as the QMQPD account",
      `# (${qmqpdAccount}, through envuidgid) and writes each copy as its recipient, so`,
      "# User= does not fit. A qmail-queue in $QMAILQUEUE may be setuid: NoNewPrivileges stays off.",
      "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_CHOWN CAP_FOWNER",
    ]
    : [
      "# The chain starts as root: checkpassword reads shadow and switches to each mail user,",
      "# so neither User= nor DynamicUser= fits; the rest of the box is fenced off below.",
      "NoNewPrivileges=yes",
      "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_CHOWN CAP_FOWNER",
    ];
  return [...who, ...COMMON_HARDENING];
}

export function serviceUnit(req: ConfRequest, poppin: string): string {
  const name = unitName(req);
  return [
    "[Unit]",
    `Description=poppin ${req.kind} (made by poppin conf ${req.kind} --systemd in ${req.dir})`,
    `Requires=${name}.socket`,
    `After=network.target ${name}.socket`,
    "",
    "[Service]",
    "Type=simple",
    `WorkingDirectory=${req.dir}`,
    `ExecStart=${execStart(req, poppin).map(unitWord).join(" ")}`,
    "# serve's -v lines and every program's stderr go to the journal (journalctl -u NAME).",
    "StandardInput=null",
    "StandardOutput=journal",
    "StandardError=journal",
    "# The tag fail2ban's filter (journalmatch) looks for, whatever this unit is called.",
    "SyslogIdentifier=poppin",
    "# systemctl reload: SIGHUP to serve alone (re-reads the certificate and re-checks the chain,",
    "# as svc -h); systemctl kill -s HUP would also end every running session.",
    "ExecReload=/bin/kill -HUP $MAINPID",
    "# SIGTERM to serve alone: running sessions finish, as under svc -d.",
    "KillMode=process",
    "Restart=always",
    "RestartSec=1",
    ...hardening(req.kind, req.runAccount?.name),
    "",
    "[Install]",
    `Also=${name}.socket`,
    "",
  ].join("\n");
}

export function systemdPlan(req: ConfRequest, poppin: string): ServicePlan {
  const name = unitName(req);
  return {
    dir: req.dir,
    dirMode: 0o755,
    compileRules: true,
    entries: [
      ...envEntries(req),
      { kind: "file", path: "Makefile", content: makefile(poppin), mode: 0o644 },
      { kind: "file", path: "tcp", content: tcpRules(), mode: 0o644 },
      { kind: "file", path: "add-client", content: addClient(), mode: 0o755 },
      { kind: "file", path: `${name}.socket`, content: socketUnit(req), mode: 0o644 },
      { kind: "file", path: `${name}.service`, content: serviceUnit(req, poppin), mode: 0o644 },
    ],
  };
}

/**
 * A service directory for daemontools' svscan, as qmail-conf's generators make it:
 * run (serve with the rules in tcp.cdb), log/run (setuidgid LOGACCT log t ./main),
 * log/main and log/status owned by LOGACCT, tcp, Makefile, add-client, env/.
 */
import type { ConfRequest } from "./options.ts";
import { addClient, envEntries, envuidgidArgs, makefile, tcpRules } from "./common.ts";
import { shellLine, type ServicePlan } from "./plan.ts";

/** One word for the shell inside `sh -c '...'`: double quotes where needed (the outer single quotes are added later). */
function innerWord(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/[\\"$`]/g, "\\$&")}"`;
}

/**
 * qmail-conf's run script: every setting read from a file in ./env (envdir) by the inner
 * shell, so an admin changes one value by editing one file and restarting (svc -t). An
 * empty file means the default written here. qmqpd: envuidgid QMQPDACCT in front (qmqpd
 * splits itself into its network side and the delivering helper).
 */
export function runScript(req: ConfRequest, poppin: string): string {
  const p = innerWord(poppin);
  const program = req.kind === "qmqpd"
    ? [`    ${p} qmqpd`]
    : [
      `    ${p} popup ${/^[A-Za-z0-9._-]+$/.test(req.host) ? `"\${POPUPHOST-${req.host}}"` : `"$POPUPHOST"`} \\`,
      `    ${innerWord(req.checkpassword!)} \\`,
      `    ${p} pop3d \${SPOOLDIR+"--spool-dir=$SPOOLDIR"} "\${MAILDIRNAME-${req.mbox ? "mbox:" : "Maildir"}}"`,
    ];
  const inner = [
    "",
    `  exec ${p} serve ${req.kind === "pop3s" ? "--tls " : ""}-vDHR \\`,
    `    \${LOCALNAME+"-l$LOCALNAME"} \${BACKLOG+"-b$BACKLOG"} \${CONCURRENCY+"-c$CONCURRENCY"} \\`,
    `    -x tcp.cdb -- "\${IP-0}" "\${PORT-${req.port}}" \\`,
    ...program,
    "",
  ].join("\n");
  const knobs = req.kind === "qmqpd" ? "IP, PORT, CONCURRENCY, BACKLOG, LOCALNAME" : "IP, PORT, CONCURRENCY,\n# BACKLOG, LOCALNAME, POPUPHOST, MAILDIRNAME, SPOOLDIR, CERTFILE, KEYFILE";
  return [
    "#!/bin/sh",
    `# poppin conf ${req.kind}: each setting is a file in ./env (envdir): ${knobs} and POPPIN_*.`,
    "# An empty file means the default. Edit one, then: svc -t this directory.",
    "exec 2>&1",
    `exec ${shellLine([...envuidgidArgs(req, poppin), poppin, "envdir", "./env", "/bin/sh", "-c"])} '${inner.replace(/'/g, "'\\''")}'`,
    "",
  ].join("\n");
}

export function logRunScript(req: ConfRequest, poppin: string): string {
  return `#!/bin/sh\nexec ${shellLine([poppin, "setuidgid", req.logAccount.name, poppin, "log", "t", "./main"])}\n`;
}

export function daemontoolsPlan(req: ConfRequest, poppin: string): ServicePlan {
  const logOwner = { uid: req.logAccount.uid, gid: req.logAccount.gid };
  return {
    dir: req.dir,
    dirMode: 0o3755,
    compileRules: true,
    entries: [
      { kind: "dir", path: "log", mode: 0o2755 },
      { kind: "dir", path: "log/main", mode: 0o2755, owner: logOwner },
      { kind: "file", path: "log/status", content: "", mode: 0o644, owner: logOwner },
      { kind: "file", path: "log/run", content: logRunScript(req, poppin), mode: 0o755 },
      ...envEntries(req, true),
      { kind: "file", path: "Makefile", content: makefile(poppin), mode: 0o644 },
      { kind: "file", path: "tcp", content: tcpRules(), mode: 0o644 },
      { kind: "file", path: "add-client", content: addClient(), mode: 0o755 },
      { kind: "file", path: "run", content: runScript(req, poppin), mode: 0o755 },
    ],
  };
}

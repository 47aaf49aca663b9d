/**
 * A service directory for daemontools' svscan, as qmail-conf's generators make it:
 * run (serve with the rules in tcp.cdb), log/run (setuidgid LOGACCT log t ./main),
 * log/main and log/status owned by LOGACCT, tcp, Makefile, add-client, env/.
 */
import type { ConfRequest } from "./options.ts";
import { addClient, chainArgs, envEntries, envuidgidArgs, makefile, serveFlags, tcpRules } from "./common.ts";
import { shellLine, type ServicePlan } from "./plan.ts";

export function runScript(req: ConfRequest, poppin: string): string {
  const front = envuidgidArgs(req, poppin);
  return [
    "#!/bin/sh",
    `# poppin conf ${req.kind}: variables for the chain are files in ./env (envdir).`,
    "exec 2>&1",
    `exec ${shellLine([...front, poppin, "envdir", "./env"])} \\`,
    `  ${shellLine([poppin, "serve", ...serveFlags(req), "-x", "tcp.cdb", "--", req.ip, req.port])} \\`,
    `  ${shellLine(chainArgs(req, poppin))}`,
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
      ...envEntries(req),
      { kind: "file", path: "Makefile", content: makefile(poppin), mode: 0o644 },
      { kind: "file", path: "tcp", content: tcpRules(), mode: 0o644 },
      { kind: "file", path: "add-client", content: addClient(), mode: 0o755 },
      { kind: "file", path: "run", content: runScript(req, poppin), mode: 0o755 },
    ],
  };
}

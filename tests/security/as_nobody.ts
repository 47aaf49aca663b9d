/**
 * The attacker of the privacy tests: a process running as nobody (the uid other daemons and a
 * log account share) trying to read another process's memory and environment or attach to it.
 */
import { MAIL_GID, MAIL_UID } from "../standalone/harness.ts";

/** What a process running as nobody can do to `pid`: open its mem and environ, attach with ptrace. */
export async function asNobody(pid: number): Promise<string> {
  // Debian's python3: the one on PATH may live where nobody cannot go.
  const p = Bun.spawn(["/usr/bin/python3", "-c", `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
out = []
for what in ("mem", "environ"):
    try:
        with open("/proc/${pid}/" + what, "rb") as f: f.read(1)
        out.append(what + ":read")
    except OSError as e: out.append(what + ":" + (os.strerror(e.errno) if e.errno else "error"))
if libc.ptrace(16, ${pid}, None, None) == 0:
    out.append("ptrace:attached"); os.waitpid(${pid}, 0x40000000); libc.ptrace(17, ${pid}, None, None)
else: out.append("ptrace:" + os.strerror(ctypes.get_errno()))
print(" ".join(out))
`], { uid: MAIL_UID, gid: MAIL_GID, cwd: "/", stdout: "pipe", stderr: "inherit" });
  return (await new Response(p.stdout).text()).trim();
}

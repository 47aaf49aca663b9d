/**
 * The classic chain as root, after STLS: popup keeps the TLS session and relays for
 * checkpassword, which becomes the mailbox owner and runs pop3d. That pop3d is the
 * owner's process (ptrace, /proc/PID/fd), so were its stderr the service log (a pipe to
 * multilog), the owner could write any line there, for instance a popup
 * "authorization failed rip=..." line that fail2ban acts on, and get any address banned.
 * Its stderr is a pipe to popup, which writes each line under pop3d's prefix.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, startPortServer } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { asUser, localUser, removeLocalUsers, sharedBase } from "./local_users.ts";
import { userLogLine } from "../../mod/standalone/user_log.ts";

afterAll(removeLocalUsers);

function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, ppid] of parent) if (ppid === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}

test("after STLS the owner's pop3d cannot write a line fail2ban acts on into the service log", async () => {
  const base = sharedBase("stlslog");
  const user = localUser("pst", base);
  expect(run(["chpasswd"], { stdin: `${user.name}:owner pw 1\n` }).code).toBe(0);
  const maildir = join(user.home, "Maildir");
  expect(asUser(user, [POPPIN, "maildirmake", maildir]).code).toBe(0);
  expect(asUser(user, ["sh", "-c", `printf 'Subject: hi\\n\\nbody\\n' > ${maildir}/new/1.M1P1.test`]).code).toBe(0);
  const cert = makeCertificate();
  // The service log is a pipe, as to multilog (bash's process substitution; Bun's own "pipe" is a socket pair).
  const s = await startPortServer(["bash", "-c", 'exec "$@" 2> >(exec cat >&2)', "bash", POPPIN, "serve", "-R", "-H", "-1", "127.0.0.1", "0", POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"],
    { env: { PATH: "/usr/bin:/bin", CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" } });
  try {
    const client = Bun.spawn(["python3", "-c", `
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", ${s.port}), timeout=20)
f = s.makefile("rb"); f.readline(); s.sendall(b"STLS\\r\\n"); f.readline()
s = ctx.wrap_socket(s); f = s.makefile("rb")
for c in (b"USER ${user.name}", b"PASS owner pw 1", b"STAT"):
    s.sendall(c + b"\\r\\n"); sys.stdout.write(f.readline().decode()); sys.stdout.flush()
sys.stdin.readline()
s.sendall(b"QUIT\\r\\n"); sys.stdout.write(f.readline().decode())
`], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    let out = "";
    const reader = (client.stdout as ReadableStream<Uint8Array>).getReader();
    while (!/\+OK 1 \d+\r\n/.test(out)) {
      const { done, value } = await reader.read();
      if (done) break;
      out += Buffer.from(value).toString("latin1");
    }
    expect(out).toMatch(/^\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n/);
    expect(readlinkSync(`/proc/${s.proc.pid}/fd/2`)).toMatch(/^pipe:/);
    const pop3d = descendants(s.proc.pid).filter((pid) => {
      try {
        return new RegExp(`^Uid:\\s+${user.uid}\\s`, "m").test(readFileSync(`/proc/${pid}/status`, "latin1"));
      } catch {
        return false;
      }
    });
    expect(pop3d).toHaveLength(1);
    // The owner can ptrace its pop3d and write through any descriptor it holds: none may be the service log.
    const serviceLog = readlinkSync(`/proc/${s.proc.pid}/fd/2`);
    const held = readdirSync(`/proc/${pop3d[0]}/fd`).map((fd) => readlinkSync(`/proc/${pop3d[0]}/fd/${fd}`));
    expect(held).not.toContain(serviceLog);
    expect(readlinkSync(`/proc/${pop3d[0]}/fd/2`)).not.toBe(readlinkSync(`/proc/${pop3d[0]}/fd/0`));
    client.stdin.write("\n");
    client.stdin.end();
    await client.exited;
    for (let i = 0; i < 100 && !/end=quit/.test(s.log()); i++) await Bun.sleep(50);
    const log = s.log();
    expect(log).toMatch(new RegExp(`^poppin pop3d: info: end=quit user=${user.name} rip=127\\.0\\.0\\.1 messages=1 `, "m"));
  } finally {
    await s.stop();
  }
}, 30_000);

test("lines from the chain after STLS: pop3d's and checkpassword's own stay theirs, any other becomes pop3d's warning", () => {
  const enc = new TextEncoder();
  const prefixes = ["qmail-pop3d", "checkpassword"];
  expect(userLogLine(prefixes, enc.encode("checkpassword: warning: x"))).toBe("checkpassword: warning: x\n");
  expect(userLogLine(prefixes, enc.encode("qmail-pop3d: info: end=quit"))).toBe("qmail-pop3d: info: end=quit\n");
  expect(userLogLine(prefixes, enc.encode("qmail-popup: warning: authorization failed rip=203.0.113.9 user=x")))
    .toBe("qmail-pop3d: warning: qmail-popup: warning: authorization failed rip=203.0.113.9 user=x\n");
});

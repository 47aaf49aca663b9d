/**
 * Debian's Dovecot (pop3 only) as one more host for the campaign: its answers' meaning
 * (+OK or -ERR) and which mail it deletes are compared with poppin's, never its text. One
 * virtual user per account of the pool (passwd-file, a SHA-512 crypt hash of the same
 * password), Maildirs at ~/Maildir, UIDLs as qmail's (%f), no failure delay.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, tempDir } from "../../../tests/helpers.ts";
import { freePort } from "../../../tests/pop3/conversation.ts";
import { waitForPort } from "../../../bench/fixtures.ts";
import type { Account } from "../../../tests/session/modes.ts";

export interface DovecotHost {
  port: number;
  stop(): Promise<void>;
}

export const DOVECOT_BIN = "/usr/sbin/dovecot";

export async function startDovecotHost(accounts: Account[], password: string): Promise<DovecotHost> {
  const root = tempDir("parity-dovecot");
  chmodSync(root, 0o755); // Dovecot's auth process (its own user) reads the passwd-file
  for (const sub of ["run", "state"]) mkdirSync(join(root, sub), { recursive: true });
  const hash = run(["openssl", "passwd", "-6", password]).out.trim();
  const passwd = join(root, "passwd");
  writeFileSync(passwd, accounts.map((a) => `${a.login}:{CRYPT}${hash}:${a.uid}:${a.gid}::${a.home}::\n`).join(""), { mode: 0o640 });
  const group = /^dovecot:[^:]*:(\d+):/m.exec(readFileSync("/etc/group", "utf8"))?.[1];
  if (group !== undefined) chownSync(passwd, 0, Number(group));
  const port = await freePort();
  const conf = join(root, "dovecot.conf");
  writeFileSync(conf, `
base_dir = ${root}/run
state_dir = ${root}/state
instance_name = poppin-parity-${port}
log_path = ${root}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
mail_location = maildir:~/Maildir
pop3_uidl_format = %f
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%u ${passwd}
}
userdb {
  driver = passwd-file
  args = username_format=%u ${passwd}
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener pop3s {
    port = 0
  }
}
`);
  const proc = Bun.spawn([DOVECOT_BIN, "-F", "-c", conf], { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
  await waitForPort(port, 15_000, "Dovecot", proc.exited);
  return {
    port,
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** The answers' meaning: one character per status line (+ for +OK, - for -ERR, c for a SASL continuation). */
export function meaning(text: string): string {
  return (text.match(/^(\+OK|-ERR|\+ |\+\r)/gm) ?? []).map((s) => (s === "+OK" ? "+" : s === "-ERR" ? "-" : "c")).join("");
}

/** Which messages are left (their unique names, wherever they are and whatever their flags). */
export function remaining(state: string[]): string {
  return state.map((p) => p.replace(/^(new|cur)\//, "").replace(/:.*$/, "")).filter((n) => !n.startsWith("dovecot")).sort().join(" ");
}

/**
 * A real Dovecot (Debian's dovecot-core + dovecot-pop3d) for benchmarks: its own
 * base_dir under a temporary root, POP3 on a loopback port, users from a passwd-file
 * with the same crypt(3) hashes poppin checks (yescrypt), or the system's accounts
 * (passdb shadow, userdb passwd), Maildirs at ~/Maildir, UIDLs
 * as qmail's (%f). Run as root (Dovecot's master needs it); mail is served as each
 * user's uid, as Dovecot always does.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stopProcess, waitForPort } from "./fixtures.ts";

export const DOVECOT = "/usr/sbin/dovecot";
/** Dovecot's pop3 process, run pre-authenticated (the counterpart of qmail-pop3d after checkpassword). */
export const DOVECOT_POP3 = "/usr/lib/dovecot/pop3";
const SETUIDGID = Bun.which("setuidgid", { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" });

/**
 * How the pre-authenticated benchmarks run a POP3 server: Dovecot refuses to serve mail as
 * root, so as root both servers run as nobody (daemontools' setuidgid) on homes chowned to it.
 */
export interface PreauthRunner {
  /** Dovecot's pop3 can run here (installed, and not left as root). */
  dovecot: boolean;
  /** USER for the servers' environment. */
  user: string;
  /** Put before a server's argv. */
  prefix: string[];
  /** Gives `path` (recursively) to the user the servers run as. */
  chown(path: string): void;
}

export function preauthRunner(): PreauthRunner {
  const asRoot = process.getuid?.() === 0;
  const nobody = asRoot && SETUIDGID !== null;
  return {
    dovecot: existsSync(DOVECOT_POP3) && (!asRoot || nobody),
    user: nobody ? "nobody" : process.env.USER ?? "root",
    prefix: nobody ? [SETUIDGID!, "nobody"] : [],
    chown: (path) => {
      if (nobody) Bun.spawnSync(["chown", "-R", "65534:65534", path]);
    },
  };
}

/** Writes `home`/dovecot.conf for a pre-authenticated pop3 on `mailLocation` (plus `extra` lines); returns Dovecot's argv. */
export function preauthDovecot(runner: PreauthRunner, home: string, mailLocation: string, extra: string[] = []): string[] {
  const conf = join(home, "dovecot.conf");
  for (const sub of ["run", "state"]) mkdirSync(join(home, sub), { recursive: true });
  writeFileSync(conf, [
    `base_dir = ${home}/run`, `state_dir = ${home}/state`, "log_path = /dev/null",
    `mail_location = ${mailLocation}`, "protocols = pop3", "ssl = no", "first_valid_uid = 0", "first_valid_gid = 0",
    ...extra, "",
  ].join("\n"));
  runner.chown(home);
  return [...runner.prefix, "env", `USER=${runner.user}`, `HOME=${home}`, DOVECOT_POP3, "-c", conf];
}

export interface DovecotUser {
  login: string;
  /** crypt(3) hash, e.g. yescrypt "$y$...". */
  hash: string;
  /** The passdb password field as it is (e.g. "{SCRAM-SHA-256}4096,..."); default "{CRYPT}" + hash. */
  password?: string;
  uid: number;
  gid: number;
  home: string;
}

export interface DovecotOptions {
  root: string;
  port: number;
  /** Virtual users in a passwd-file; or "system": the system's accounts (passdb shadow, userdb passwd). */
  users: DovecotUser[] | "system";
  /** auth_cache_size (Dovecot's verified-credential cache): 0 = off (Dovecot's default). */
  authCacheSize?: string;
  /** Sessions to allow at once (process and client limits). */
  maxSessions?: number;
  /** System users: passwords from /etc/shadow, accounts from passwd (`users` then only names them). */
  system?: boolean;
  /** auth_mechanisms (default "plain"). */
  authMechanisms?: string;
  /** PEM certificate and key: STLS offered (ssl = yes); default ssl = no. */
  tls?: { cert: string; key: string };
  /** auth_failure_delay (Dovecot's default 2 secs when unset). */
  authFailureDelay?: string;
}

export interface DovecotServer {
  port: number;
  /** The master's pid (every Dovecot process descends from it). */
  pid: number;
  stop(): Promise<void>;
}

export function dovecotAvailable(): boolean {
  return existsSync(DOVECOT) && existsSync("/usr/lib/dovecot/pop3") && process.getuid?.() === 0;
}

export async function startDovecot(o: DovecotOptions): Promise<DovecotServer> {
  const max = o.maxSessions ?? 1000;
  for (const sub of ["run", "state"]) mkdirSync(join(o.root, sub), { recursive: true });
  const passwd = join(o.root, "passwd");
  if (o.users !== "system") {
    writeFileSync(passwd, o.users.map((u) => `${u.login}:${u.password ?? `{CRYPT}${u.hash}`}:${u.uid}:${u.gid}::${u.home}::\n`).join(""), { mode: 0o640 });
    // Dovecot's auth process runs as its internal user ("dovecot"): it reads the file through the group.
    const group = /^dovecot:[^:]*:(\d+):/m.exec(readFileSync("/etc/group", "utf8"))?.[1];
    if (group !== undefined) chownSync(passwd, 0, Number(group));
    else chmodSync(passwd, 0o644);
  }
  // System accounts: the shadow passdb runs in Dovecot's auth-worker, as root; crypt(3) checks the hash.
  const databases = o.users === "system" ? `
passdb {
  driver = shadow
}
userdb {
  driver = passwd
}` : `
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%u ${passwd}
}
userdb {
  driver = passwd-file
  args = username_format=%u ${passwd}
}`;
  const conf = join(o.root, "dovecot.conf");
  writeFileSync(conf, `
base_dir = ${o.root}/run
state_dir = ${o.root}/state
instance_name = poppin-bench-${o.port}
log_path = ${o.root}/dovecot.log
protocols = pop3
listen = 127.0.0.1
${o.tls === undefined ? "ssl = no" : `ssl = yes\nssl_cert = <${o.tls.cert}\nssl_key = <${o.tls.key}`}
disable_plaintext_auth = no
auth_mechanisms = ${o.authMechanisms ?? "plain"}
${o.authFailureDelay === undefined ? "" : `auth_failure_delay = ${o.authFailureDelay}`}
mail_location = maildir:~/Maildir
pop3_uidl_format = %f
first_valid_uid = 1
auth_cache_size = ${o.authCacheSize ?? "0"}
auth_cache_ttl = 1 hour
default_process_limit = ${max + 100}
default_client_limit = ${max * 2 + 100}
default_vsz_limit = 1G
${databases}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${o.port}
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  client_limit = ${max * 3 + 100}
}
protocol pop3 {
  mail_max_userip_connections = ${max * 2}
}
`);
  const proc = Bun.spawn([DOVECOT, "-F", "-c", conf], { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
  try {
    await waitForPort(o.port, 15_000, "Dovecot", proc.exited);
  } catch (e) {
    proc.kill("SIGKILL");
    const log = existsSync(join(o.root, "dovecot.log")) ? readFileSync(join(o.root, "dovecot.log"), "utf8").slice(-2000) : "";
    throw new Error(`${(e as Error).message}: ${log} ${await new Response(proc.stderr as ReadableStream).text()}`);
  }
  return {
    port: o.port,
    pid: proc.pid,
    stop: () => stopProcess(proc, 10_000),
  };
}

/**
 * The Q-cards' roadmap as checks, each returning ✓ or ✗ with a one-sentence fix:
 * listener, rules, user, home and Maildir, password, live session, supervisor, log.
 */
import { existsSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { isPoppinName } from "../base/self_name.ts";
import { authenticate } from "../auth/authenticate.ts";
import type { AuthConfig } from "../auth/config.ts";
import { daysSinceEpoch } from "../auth/shadow_policy.ts";
import { lookupVirtualUser } from "../auth/userdb.ts";
import { rulesLookup } from "../rules/lookup.ts";
import { getpwnam, getpwuid } from "../sys/libc.ts";
import { holders, listenersOn } from "./listener.ts";
import { failure, pass, type CheckResult } from "./report.ts";
import type { ServiceInfo } from "./service.ts";
import { memoryLimitsBeforeServe, serviceWords, unitMemoryLimits, type MemoryLimit } from "../conf/service_command.ts";
import { RUNTIME_MIN_MEMORY_LIMIT } from "../sys/memory_limit.ts";

export interface MailUser { login: string; uid: number; gid: number; home: string; source: "system" | "virtual" }

/** Whether `command` (a /proc cmdline) is a server that may hold a service's port: serve, tcpserver, or systemd's socket. */
function isServiceHolder(command: string, systemd: boolean): boolean {
  const program = basename(command.split(" ")[0] ?? "");
  if (program === "tcpserver" || program === "sslserver" || isPoppinName(program)) return true;
  return systemd && (program === "systemd" || program === "init");
}

/**
 * Who holds `port`. With a service directory, a port held by another program (Dovecot's
 * pop3, an old tcpserver run script's inetd) is the failure: serve cannot bind it and
 * supervise restarts it every second, with "unable to bind: address already used" in its log.
 */
export function checkListener(port: number, service?: ServiceInfo): CheckResult {
  const listeners = listenersOn(port);
  if (listeners.length === 0) return failure("listener", `nothing listens on port ${port}.`, "start the service (svc -u DIR, or systemctl start NAME.socket) and look at its log for why it stopped.");
  const who = holders(new Set(listeners.map((l) => l.inode)));
  const by = who.length ? who.map((h) => `pid ${h.pid} (${h.command.slice(0, 100)})`).join(", ") : "a process we cannot see";
  const where = `port ${port} (${listeners.map((l) => l.address).join(", ")})`;
  if (service !== undefined && who.length > 0 && !who.some((h) => isServiceHolder(h.command, service.kind === "systemd"))) {
    return failure("listener", `${where} is held by ${by}, not by the service in ${service.dir}: its serve cannot bind the port.`,
      service.kind === "systemd"
        ? `stop that program (or move it to another port), or give the service another port (ListenStream= in ${service.dir}/${service.unit}.socket).`
        : `stop that program (or move it to another port), or give the service another port in ${service.dir}/env/PORT, then svc -t ${service.dir}.`);
  }
  return pass("listener", `${where} is held by ${by}.`);
}

function mtime(path: string): number | undefined {
  try { return statSync(path).mtimeMs; } catch { return undefined; }
}

/**
 * The rules cdb: it lets 127.0.0.1 in (doctor's own POP3 session comes from there) and is newer
 * than its text. `loopback` false (a QMQP service, whose clients are the relays that send mail):
 * only that it reads, since 127.0.0.1 need not be let in and doctor opens no session there.
 */
export function checkRules(cdb: string, source: string | undefined, where: string, loopback = true): CheckResult[] {
  if (!existsSync(cdb)) return [failure("rules-allow", `${cdb} does not exist.`, `run make in ${where} to compile it.`)];
  const out: CheckResult[] = [];
  try {
    const verdict = rulesLookup(cdb, { ip: "127.0.0.1" });
    if (!loopback) out.push(pass("rules-allow", `${cdb} reads (a QMQP service needs no rule for 127.0.0.1).`));
    else out.push(verdict.allow
      ? pass("rules-allow", `${cdb} lets 127.0.0.1 in (rule "${verdict.matchedKey ?? ""}").`)
      : failure("rules-allow", `${cdb} denies 127.0.0.1 (rule "${verdict.matchedKey ?? ""}").`, `run ./add-client 127.0.0.1 and then make in ${where}.`));
  } catch (err) {
    out.push(failure("rules-allow", `${cdb} cannot be read: ${(err as Error).message}.`, `run make in ${where} to rebuild it.`));
  }
  const s = source ? mtime(source) : undefined;
  const c = mtime(cdb);
  if (source && s !== undefined && c !== undefined) {
    out.push(c >= s
      ? pass("rules-fresh", `${cdb} is newer than ${source}.`)
      : failure("rules-fresh", `${source} was changed after ${cdb} was made, so the change is not in force.`, `run make in ${where}.`));
  }
  return out;
}

export function findUser(login: string, config: AuthConfig): { user?: MailUser; result: CheckResult } {
  if (config.userdb) {
    let v;
    try {
      v = lookupVirtualUser(config.userdb, Buffer.from(login));
    } catch (err) {
      const why = (err as Error).message.replace(`unable to read ${config.userdb}: `, "");
      const missing = why.endsWith("file does not exist");
      return { result: failure("user", `the user database ${config.userdb} cannot be read: ${why}.`,
        missing ? `check the name (POPPIN_USERDB, --userdb), or make it with poppin users -f ${config.userdb} add ${login} UID GID HOME.`
          : "fix the file's permissions or rebuild it with poppin users.") };
    }
    if (!v) return { result: failure("user", `no virtual user ${login} in ${config.userdb}.`, `add one: poppin users -f ${config.userdb} add ${login} UID GID HOME.`) };
    return { user: { login, uid: v.uid, gid: v.gid, home: v.home, source: "virtual" }, result: pass("user", `virtual user ${login} (uid ${v.uid}, home ${v.home}) in ${config.userdb}.`) };
  }
  const pw = getpwnam(login);
  if (!pw) return { result: failure("user", `no system account ${login}.`, `create it (adduser ${login}) or set POPPIN_USERDB for virtual users.`) };
  const user: MailUser = { login, uid: pw.uid, gid: pw.gid, home: pw.dir, source: "system" };
  if (pw.uid < config.minUid) return { user, result: failure("user", `system account ${login} has uid ${pw.uid}, below POPPIN_MIN_UID ${config.minUid}, so checkpassword refuses it.`, "use an ordinary account or lower POPPIN_MIN_UID in the service's env/.") };
  return { user, result: pass("user", `system account ${login} (uid ${pw.uid}, home ${pw.dir}).`) };
}

/** Who owns the user's files, in words: the login of a system account; a virtual user's uid. */
function ownerText(user: MailUser): string {
  return user.source === "system" ? user.login : `uid ${user.uid} (${user.login}'s)`;
}

/**
 * The command that makes `maildir` as its owner. setuidgid takes an account name: a virtual
 * user has none of its own, so it is the system account of its uid (the shared vmail account).
 */
function maildirmakeCommand(user: MailUser, maildir: string): string {
  if (user.source === "system") return `run maildirmake ${maildir} as ${user.login} (setuidgid ${user.login} maildirmake ${maildir})`;
  let account: string | undefined;
  try {
    account = getpwuid(user.uid)?.name;
  } catch {
    account = undefined;
  }
  return account !== undefined
    ? `run maildirmake ${maildir} as ${account}, the account of uid ${user.uid} (setuidgid ${account} maildirmake ${maildir})`
    : `run maildirmake ${maildir}, then chown -R ${user.uid}:${user.gid} ${maildir}`;
}

function ownerProblem(st: Stats, user: MailUser): string | undefined {
  if (st.uid !== user.uid) return `is owned by uid ${st.uid}, not ${user.login}'s ${user.uid}`;
  if (st.mode & 0o022) return `has mode ${(st.mode & 0o7777).toString(8)}, writable by others`;
  return undefined;
}

export function checkHome(user: MailUser): CheckResult {
  let st: Stats;
  try { st = statSync(user.home); } catch { return failure("home", `home directory ${user.home} does not exist.`, `mkdir ${user.home} and chown ${user.uid}:${user.gid} ${user.home}.`); }
  if (!st.isDirectory()) return failure("home", `${user.home} is not a directory.`, `make ${user.home} a directory owned by ${ownerText(user)}.`);
  const problem = ownerProblem(st, user);
  if (problem) return failure("home", `${user.home} ${problem}.`, `chown ${user.uid}:${user.gid} ${user.home} and chmod go-w ${user.home}.`);
  return pass("home", `${user.home} exists, owned by ${ownerText(user)}, not writable by others.`);
}

export function checkMaildir(user: MailUser, name: string): CheckResult {
  const maildir = join(user.home, name);
  for (const sub of ["", "cur", "new", "tmp"]) {
    const path = sub ? join(maildir, sub) : maildir;
    let st: Stats;
    try { st = statSync(path); } catch {
      return failure("maildir", `${path} does not exist.`, sub ? `make ${sub}/ with mode 700, owned by ${ownerText(user)}.` : `${maildirmakeCommand(user, maildir)}.`);
    }
    if (!st.isDirectory()) return failure("maildir", `${path} is not a directory.`, `move it away and run maildirmake ${maildir}.`);
    const problem = ownerProblem(st, user);
    if (problem) return failure("maildir", `${path} ${problem}.`, `chown -R ${user.uid}:${user.gid} ${maildir} and chmod -R go-w ${maildir}.`);
  }
  return pass("maildir", `${maildir} has cur/, new/ and tmp/, owned by ${ownerText(user)}, not writable by others.`);
}

export function checkPassword(login: string, password: Uint8Array | undefined, config: AuthConfig): CheckResult {
  if (password === undefined || password.length === 0) return failure("password", "no password was given to check.", "run doctor on a terminal (it asks without echo) or pipe the password on stdin.");
  try {
    authenticate({ login: Buffer.from(login), password, timestamp: new Uint8Array(), raw: new Uint8Array() }, config, { euid: process.geteuid?.() ?? 0, today: daysSinceEpoch(new Date()) });
    return pass("password", `the password opens ${login}'s account.`);
  } catch (err) {
    return failure("password", `checkpassword would refuse ${login}: ${(err as Error).message}.`, config.userdb ? `set it again: poppin users -f ${config.userdb} passwd ${login}.` : `set it again: passwd ${login}.`);
  }
}

export function checkSupervisor(info: ServiceInfo, run: (cmd: string[]) => { code: number; out: string }): CheckResult[] {
  if (info.kind === "systemd") {
    const r = run(["systemctl", "is-active", `${info.unit}.socket`]);
    const status = r.out.trim() || "unknown";
    return [
      status === "active"
        ? pass("supervisor", `systemd has ${info.unit}.socket active.`)
        : failure("supervisor", `systemd says ${info.unit}.socket is ${status}.`, `link the units from ${info.dir} into /etc/systemd/system and run systemctl enable --now ${info.unit}.socket.`),
      pass("log", `the log is in the journal: journalctl -u ${info.unit}.`),
    ];
  }
  const out: CheckResult[] = [];
  const r = run(["svstat", info.dir]);
  const up = /: up \(pid (\d+)\) (\d+) seconds/.exec(r.out);
  if (r.code !== 0 && !r.out) out.push(failure("supervisor", `svstat cannot be run on ${info.dir}.`, "install daemontools and link the directory into /service (ln -s DIR /service/)."));
  else if (up) out.push(pass("supervisor", `svstat: ${info.dir} up (pid ${up[1]}) ${up[2]} seconds.`));
  else if (/supervise not running/.test(r.out)) out.push(failure("supervisor", `supervise is not running for ${info.dir}.`, `link it into svscan's directory: ln -s ${info.dir} /service/.`));
  else out.push(failure("supervisor", `svstat: ${r.out.trim().replace(/^.*?: /, "")}.`, `start it with svc -u ${info.dir} and read ${join(info.dir, "log/main/current")} for why it stopped.`));
  const current = join(info.dir, "log", "main", "current");
  out.push(existsSync(current)
    ? pass("log", `the log is ${current} (read it with tai64nlocal < ${current}).`)
    : failure("log", `${current} does not exist yet.`, `check that ${join(info.dir, "log")} is supervised too (svstat ${join(info.dir, "log")}).`));
  return out;
}

/**
 * A memory limit the service puts on serve (a qmail run script's `softlimit -m 2000000`,
 * a unit's LimitAS=) below what the runtime needs: serve then dies at start, before it can
 * log a word, and supervise restarts it every second. Undefined when no limit is set.
 */
export function checkMemoryLimit(dir: string): CheckResult | undefined {
  let limits: MemoryLimit[];
  let source: string;
  try {
    const found = serviceWords(dir, { PATH: process.env.PATH });
    limits = [...memoryLimitsBeforeServe(found.words, found.env), ...(found.unit === undefined ? [] : unitMemoryLimits(found.unit))];
    source = found.source;
  } catch {
    return undefined;
  }
  if (limits.length === 0) return undefined;
  const small = limits.find((l) => l.bytes < RUNTIME_MIN_MEMORY_LIMIT);
  if (small === undefined) return pass("memory-limit", `${source} limits serve to ${limits.map((l) => l.option).join(", ")}, enough for poppin.`);
  return failure(
    "memory-limit",
    `${source} starts serve under ${small.option}: poppin's runtime needs a data and address-space limit of at least ${RUNTIME_MIN_MEMORY_LIMIT} bytes and dies at start below it, before it can log why.`,
    `remove ${small.option} (or raise it to at least ${RUNTIME_MIN_MEMORY_LIMIT}), then restart the service (svc -t ${dir}, or systemctl daemon-reload and restart).`,
  );
}

/**
 * Checks that depend on how `poppin conf` set the service up: an mbox spool instead of a
 * Maildir, the user database readable by the account serve runs as, and a logger that
 * supervise restarts every second (with the reason: what its run script says when run).
 */
import { readFileSync, statSync, type Stats } from "node:fs";
import { join, resolve } from "node:path";
import type { MboxSettings } from "../mbox/options.ts";
import { spoolPathFor } from "../mbox/spool_path.ts";
import { getpwnam } from "../sys/libc.ts";
import { readProblem, writeProblem, type RunAccount } from "../auth/readable_by.ts";
import type { MailUser } from "./checks.ts";
import { failure, pass, type CheckResult } from "./report.ts";
import type { ServiceInfo } from "./service.ts";

/** pop3d mbox:[spool]: the spool file (a missing one is an empty mailbox, as for Dovecot and Qpopper). */
export function checkSpool(user: MailUser, arg: string, settings: MboxSettings): CheckResult {
  const path = spoolPathFor(arg, settings.layout, { user: user.login, home: user.home, cwd: user.home });
  if (path === undefined) return failure("spool", `pop3d's ${arg} names no spool for ${user.login}.`, "give pop3d mbox: with a spool directory (conf --spool-dir) or a path.");
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return pass("spool", `${path} does not exist yet: an empty mailbox until mail is delivered.`);
  }
  if (!st.isFile()) return failure("spool", `${path} is not a file.`, `move it away; the delivery agent makes ${path}.`);
  if (st.uid !== user.uid) return failure("spool", `${path} is owned by uid ${st.uid}, not ${user.login}'s ${user.uid}.`, `chown ${user.uid} ${path}.`);
  if (st.mode & 0o002) return failure("spool", `${path} has mode ${(st.mode & 0o7777).toString(8)}, writable by others.`, `chmod o-w ${path}.`);
  return pass("spool", `${path} is ${user.login}'s mbox spool (${st.size} bytes), not writable by others.`);
}

/**
 * The account the chain runs as: serve's -u/-g, or -U with envuidgid ACCOUNT in front.
 * undefined: root (checkpassword then reads the database as root; so does qmqpd's root helper
 * when qmqpd is started as root with envuidgid and no -U).
 */
export function runAccount(info: ServiceInfo): RunAccount | undefined {
  if (info.serve !== undefined && info.serve.uid !== 0) return { name: `uid ${info.serve.uid}`, uid: info.serve.uid, gid: info.serve.gid };
  let text = "";
  try {
    text = readFileSync(join(info.dir, "run"), "utf8");
  } catch {
    return undefined;
  }
  const m = /envuidgid\s+(\S+)[\s\S]*\bserve\s+(?:--?\S+\s+)*-[A-Za-z0-9]*U/.exec(text);
  const pw = m ? getpwnam(m[1]!) : undefined;
  return pw !== undefined && pw.uid !== 0 ? { name: pw.name, uid: pw.uid, gid: pw.gid } : undefined;
}

/** The user database, as the account serve runs as sees it (checkpassword runs as that account too). */
export function checkUserdbAccess(userdb: string, account: RunAccount): CheckResult {
  const problem = readProblem(userdb, account);
  if (problem === undefined) return pass("userdb-access", `${account.name} (the service's account) can read ${userdb}.`);
  return failure("userdb-access", `${account.name}, the account the service runs as, cannot read the user database: ${problem}.`,
    `give it a group the account is in: poppin users -f ${userdb.replace(/\.cdb$/, "")} --group GROUP compile (mode 640), or run the service as root.`);
}

/** What svstat shows for `dir`: the pid when up; otherwise for how many seconds it has been down. */
function serviceState(run: (cmd: string[]) => { code: number; out: string }, dir: string): { pid?: number; downSeconds?: number } {
  const out = run(["svstat", dir]).out;
  const up = /: up \(pid (\d+)\)/.exec(out);
  if (up) return { pid: Number(up[1]) };
  const down = /: down (\d+) seconds?/.exec(out);
  return { downSeconds: down ? Number(down[1]) : undefined };
}

/**
 * A logger that cannot start (its program unreachable for the log account, log/main not
 * writable) is restarted by supervise every second and the service's lines are lost. Two
 * looks a second and a half apart tell; log/run run once with no input says why.
 */
export async function checkLogger(info: ServiceInfo, run: (cmd: string[]) => { code: number; out: string }): Promise<CheckResult> {
  const logDir = join(info.dir, "log");
  const first = serviceState(run, logDir);
  await Bun.sleep(1500);
  const second = serviceState(run, logDir);
  if (first.pid !== undefined && first.pid === second.pid) return pass("logger", `the logger (pid ${first.pid}) stays up.`);
  // A logger whose program fails at once is up for a moment each second: svstat mostly shows it
  // down for 0 or 1 seconds. Down for longer in both looks: it is stopped, not restarting.
  const restarting = (state: { pid?: number; downSeconds?: number }) => state.pid !== undefined || (state.downSeconds ?? 2) <= 1;
  if (!restarting(first) && !restarting(second)) {
    return failure("logger", `the logger in ${logDir} is not up.`, `svc -u ${logDir}, and check that svscan (or supervise) runs it.`);
  }
  // Its own words: log/run with no input ends at once when it works, or fails with the reason.
  // Only a script supervise itself would trust as much: ours (root's) and writable by nobody else.
  const script = join(logDir, "run");
  let st: Stats | undefined;
  try { st = statSync(script); } catch { /* reported below */ }
  const euid = process.geteuid?.() ?? 0;
  if (st === undefined || st.uid !== euid || (st.mode & 0o022) !== 0) {
    return failure("logger", `supervise restarts the logger in ${logDir} every second.`,
      `run ${script} by hand to see why (doctor runs it only when it belongs to you and nobody else can write it).`);
  }
  const tried = run(["sh", "-c", `cd '${logDir.replace(/'/g, "'\\''")}' && exec ./run </dev/null 2>&1`]);
  const said = tried.out.trim().split("\n").filter(Boolean).pop();
  if (said === undefined && tried.code === 0) {
    return failure("logger", `supervise restarts the logger in ${logDir} every second, and its run script works: it ends because its input ends.`,
      `let svscan start the service (ln -s ${info.dir} /service/): it connects the service's output to the logger, which supervise alone does not.`);
  }
  const reason = said ?? `./run exited ${tried.code}`;
  return failure("logger", `supervise restarts the logger in ${logDir} every second: it cannot run its program (${reason}).`,
    "make the program and log/main reachable for the log account (the binary outside a 0700 directory such as /root, e.g. poppin install), then svc -t the log.");
}

/**
 * The log directory as log/run's account sees it (setuidgid ACCOUNT ... log t ./main): the
 * account must create, rename and write files in it. A log/main left to root (made by hand,
 * or a `multilog t ./main` tried as root leaving a root-owned current or lock) keeps the
 * logger from starting, whether or not supervise runs yet.
 */
export function checkLogDirectory(info: ServiceInfo): CheckResult | undefined {
  const logDir = join(info.dir, "log");
  let text: string;
  try {
    text = readFileSync(join(logDir, "run"), "utf8");
  } catch {
    return undefined;
  }
  const line = text.split("\n").find((l) => /\bsetuidgid\s+\S+/.test(l) && /\b(log|multilog)\b/.test(l));
  if (line === undefined) return undefined;
  const name = /\bsetuidgid\s+(\S+)/.exec(line)![1]!;
  const last = line.trim().split(/\s+/).pop()!;
  if (!/^\.?\.?\//.test(last)) return undefined;
  const main = resolve(logDir, last);
  const pw = getpwnam(name);
  if (pw === undefined) {
    return failure("log-dir", `${join(logDir, "run")} runs the logger as ${name}, an unknown account.`, `create the account (useradd --system ${name}) or name another in ${join(logDir, "run")}.`);
  }
  const account = { name: pw.name, uid: pw.uid, gid: pw.gid };
  const problem = writeProblem(main, ["current", "lock", "state", "newstate"].map((f) => join(main, f)), account);
  if (problem === undefined) return pass("log-dir", `${name}, the log account, can write ${main}.`);
  const blocked = /^(.*) \(mode [0-7]+, owner \d+:\d+\) cannot be entered$/.exec(problem)?.[1];
  const fix = problem === `${main} does not exist`
    ? `mkdir ${main} && chown ${name} ${main} && chmod 2755 ${main}, then svc -t ${logDir}.`
    : blocked !== undefined
      ? `let the log account through: chmod o+x ${blocked} (or move the service out of it), then svc -t ${logDir}.`
      : `chown -R ${name} ${main} (it must own the directory and every file in it), then svc -t ${logDir}.`;
  return failure("log-dir", `${name}, the log account, cannot write the log: ${problem}.`, fix);
}

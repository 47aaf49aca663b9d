/**
 * A local user stops their own session's process (SIGSTOP: the process is theirs once the
 * login switched to them). Stopped, it never reads, and its watchdog's SIGALRM waits pending
 * for a SIGCONT: without more, it held its connection and its `-c` slot for good, and a few
 * such sessions took the whole service. serve kills a process below it that stays stopped
 * longer than a session may go without an exchange (timeout + 10 s): the slot is free, the
 * next client is served, and no mail was deleted.
 *
 * Every host with a process of the user's: the classic chain (popup's one process, and
 * checkpassword's pop3d process) for both kinds of user, and `serve --inline`'s mail worker for
 * system users. (`--inline` with virtual users serves sessions in serve's own process: there is
 * no session process to stop; serve's uid is the mail uid, not a login.)
 */
import { afterAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { run } from "../helpers.ts";
import { withoutTimestamp } from "../standalone/harness.ts";
import { AccountPool, MATRIX, PASSWORD, type Account } from "../session/modes.ts";

const pool = new AccountPool("stopped-session");
afterAll(() => pool.close());

const TIMEOUT_SECONDS = 2;
const LIMIT_SECONDS = TIMEOUT_SECONDS + 10;

/** Every process below `pid` (from each process's parent in /proc/N/stat). */
function processesBelow(pid: number): { pid: number; uid: number; state: string }[] {
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${n}/status`, "latin1"))![1]);
      return [{ pid: Number(n), ppid: Number(fields[1]), state: fields[0]!, uid }];
    } catch {
      return [];
    }
  });
  const out: { pid: number; uid: number; state: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of all) if (p.ppid === parent) { out.push(p); queue.push(p.pid); }
  }
  return out;
}

/** A client that logs in and then says nothing; resolves with the socket once STAT is answered. */
function idleSession(port: number, acct: Account): Promise<{ sock: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let text = "";
    const closed = new Promise<void>((done) => sock.on("close", () => done()));
    sock.on("error", () => {});
    sock.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (/^\+OK[^\n]*\n$/.test(text)) sock.write(`USER ${acct.login}\r\nPASS ${PASSWORD}\r\nSTAT\r\n`);
      if (/\+OK 2 \d+\r\n$/.test(text)) resolve({ sock, closed });
    });
    setTimeout(() => reject(new Error(`no login: ${JSON.stringify(text)}`)), 15_000);
  });
}

/** A whole session (login, STAT, QUIT) that waits as long as it must; resolves with the transcript. */
function politeSession(port: number, acct: Account): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: "127.0.0.1", port }, () => sock.write(`USER ${acct.login}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => {});
    sock.on("close", () => resolve(withoutTimestamp(Buffer.concat(chunks))));
  });
}

const combos = MATRIX.filter((c) => !(c.mode === "inline" && c.kind === "virtual"));

test(`${combos.map((c) => c.name).join(", ")}: a session process its user stops is killed after timeout + 10 s; the next client gets the slot`, () =>
  Promise.all(combos.map(async (combo) => {
    const server = await pool.start(combo, { serveFlags: ["-c", "1"], env: { POPPIN_TIMEOUT: String(TIMEOUT_SECONDS) } });
    const acct = pool.account(combo.kind, ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]);
    const held = await idleSession(server.port, acct);
    // The session's process: the deepest one below serve that runs as the user.
    const mine = processesBelow(server.proc.pid!).filter((p) => p.uid === acct.uid);
    expect(mine.length).toBeGreaterThan(0);
    const victim = mine[mine.length - 1]!.pid;
    // The user stops it, with no right but their own.
    const stop = run(["setpriv", `--reuid=${acct.uid}`, `--regid=${acct.gid}`, "--clear-groups", "kill", "-STOP", String(victim)]);
    expect(stop.code).toBe(0);
    expect(processesBelow(server.proc.pid!).find((p) => p.pid === victim)?.state).toBe("T");
    const stoppedAt = Date.now();
    // -c 1: the next client waits in the backlog until the stopped session's slot is free.
    const next = await politeSession(server.port, acct);
    const waited = (Date.now() - stoppedAt) / 1000;
    expect(next).toMatch(/^\+OK [^\r]*\r\n\+OK \r\n\+OK \r\n\+OK 2 \d+\r\n\+OK [^\r]*\r\n$/);
    // Not before the stopped session's own limit: the slot really was held until then.
    expect(waited).toBeGreaterThanOrEqual(LIMIT_SECONDS - 1);
    await held.closed;
    expect(server.log()).toContain(`warning: process ${victim} (uid ${acct.uid}) stopped for over ${LIMIT_SECONDS} s: killed\n`);
    // Nothing was deleted by the killed session.
    const left = ["new", "cur"].flatMap((d) => readdirSync(join(acct.maildir, d)));
    expect(left.length).toBe(2);
  })), 120_000);

/**
 * The [IN-USE] session lock was flock(2) on the Maildir directory, which any process that may
 * open the directory for reading can take. A Maildir made 0755 (procmail makes them with the
 * umask; so does `mkdir -p Maildir/{cur,new,tmp}`) let any other local user hold that lock
 * (`flock -x ~joe/Maildir sleep infinity`) and keep joe's every POP3 login at
 * `-ERR [IN-USE]` for as long as they liked. Now the lock is on `poppin-session.lock`, a file
 * of the owner's with mode 0600 that nobody else may open. Played here by `nobody` against a
 * real account, in every mode; the lock still keeps the owner's second session out.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, statSync, writeFileSync, chownSync } from "node:fs";
import { join } from "node:path";
import { connectConversation } from "../pop3/conversation.ts";
import { talk } from "../standalone/harness.ts";
import { AccountPool, gate, MODES, PASSWORD, type Account } from "../session/modes.ts";

const pool = new AccountPool("session-lock");
const holders: ReturnType<typeof Bun.spawn>[] = [];
afterAll(async () => {
  for (const h of holders) h.kill();
  await pool.close();
});
const limited = gate(3, pool);

const NOBODY = 65534;
const IN_USE = "-ERR [IN-USE] mailbox in use by another session, try again later";
const login = (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\n`;
const answers = (b: Buffer) => b.toString("latin1").split("\r\n").filter((l) => /^(\+OK|-ERR)/.test(l));

/** `nobody` takes an exclusive flock on `path` and keeps it; resolves true once it holds it, false when it could not (not even open it). */
async function holdAsNobody(path: string): Promise<boolean> {
  // One process (flock(1) would leave its command behind when killed): open, lock, say so, wait.
  const script = "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nprint('held', flush=True)\ntime.sleep(60)\n";
  const proc = Bun.spawn(["/usr/bin/python3", "-c", script, path], { uid: NOBODY, gid: NOBODY, cwd: "/", env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
  holders.push(proc);
  const reader = proc.stdout.getReader();
  const first = await Promise.race([reader.read(), proc.exited.then(() => undefined)]);
  return first !== undefined && !first.done && Buffer.from(first.value).toString().startsWith("held");
}

describe.each(MODES)("%s, system users", (mode) => {
  const combo = { mode, kind: "system" as const, name: `${mode} x system` };

  test.concurrent("another user's flock on a readable Maildir does not keep the owner out; the owner's own second session is still [IN-USE]", () => limited(async () => {
    const acct = pool.account("system", ["Subject: mine\n\nmine\n"]);
    chmodSync(acct.maildir, 0o755);
    // A lock file left readable by others (an older version, or the owner's chmod): narrowed at the next login.
    writeFileSync(join(acct.maildir, "poppin-session.lock"), "", { mode: 0o644 });
    chmodSync(join(acct.maildir, "poppin-session.lock"), 0o644);
    chownSync(join(acct.maildir, "poppin-session.lock"), acct.uid, acct.gid);
    expect(await holdAsNobody(acct.maildir)).toBe(true);
    const server = await pool.shared(combo);
    const first = await connectConversation(server.port);
    try {
      first.talk.send(`${login(acct)}STAT\r\n`);
      await first.talk.waitFor(/\+OK 1 \d+\r\n/);
      // nobody can no longer open the lock file, so cannot lock it either.
      expect(statSync(join(acct.maildir, "poppin-session.lock")).mode & 0o777).toBe(0o600);
      expect(await holdAsNobody(join(acct.maildir, "poppin-session.lock"))).toBe(false);
      // The owner's second session meanwhile: [IN-USE], as before.
      const second = answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`));
      expect(second.slice(1)).toEqual(["+OK ", IN_USE]);
      first.talk.send("QUIT\r\n");
      await first.talk.waitEnd();
    } finally {
      first.socket.destroy();
    }
    // And after the first session, with nobody still holding the directory: served.
    expect(answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "+OK ", "+OK 1 23", "+OK "]);
  }));
});

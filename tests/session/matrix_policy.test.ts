/**
 * Policies and mailbox kinds under every mode x kind of user: auth-file and nonauth-file,
 * min-uid, LOGIN-DELAY and the [IN-USE] session lock, bulletins (and a bulletin directory
 * that cannot be read: a warning, the session goes on), mbox spools (RETR, DELE, QUIT
 * rewrites the spool; a spool locked by a delivery is [IN-USE]; LOGIN-DELAY, log-login and
 * bulletins on a spool), a missing Maildir, and a
 * hostile user's symlink to a root-only file planted in their own Maildir.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { lchownSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectConversation } from "../pop3/conversation.ts";
import { talk, talkToEnd } from "../standalone/harness.ts";
import { AccountPool, gate, MATRIX, PASSWORD, blankTimestamp, type Account } from "./modes.ts";


const pool = new AccountPool("matrix-policy");
afterAll(() => pool.close());
const limited = gate(8, pool);

const login = (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\n`;
const answers = (b: Buffer) => b.toString("latin1").split("\r\n").filter((l) => /^(\+OK|-ERR)/.test(l));
const count = (acct: Account) => ["new", "cur"].reduce((n, sub) => n + readdirSync(join(acct.maildir, sub)).length, 0);
const AUTH_FAILED = "-ERR [AUTH] authorization failed";
const secretFile = join(pool.base, "root-only");
writeFileSync(secretFile, "ROOT-ONLY-SECRET\n", { mode: 0o600 });

describe.each(MATRIX)("$name", (combo) => {
  test.concurrent("auth-file and nonauth-file: only listed users, never the excluded ones, each refused with one -ERR [AUTH]", () => limited(async () => {
    const [listed, excluded, unlisted] = [0, 1, 2].map(() => pool.account(combo.kind, ["Subject: m\n\nx\n"]));
    const dir = join(pool.base, `lists-${combo.mode}-${combo.kind}`);
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(join(dir, "allowed"), `${listed!.login}\n${excluded!.login}\n`);
    writeFileSync(join(dir, "denied"), `${excluded!.login}\n`);
    const server = await pool.start(combo, { popupFlags: [`--auth-file=${join(dir, "allowed")}`, `--nonauth-file=${join(dir, "denied")}`] });
    expect(answers(await talk(server.port, `${login(listed!)}STAT\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "+OK ", "+OK 1 17", "+OK "]);
    for (const refused of [excluded!, unlisted!]) {
      expect(answers(await talk(server.port, `${login(refused)}QUIT\r\n`)).slice(1)).toEqual(["+OK ", AUTH_FAILED, "+OK "]);
    }
  }));

  test.concurrent("min-uid: a system account below it is refused; virtual users are not system accounts", () => limited(async () => {
    const acct = pool.account(combo.kind, ["Subject: m\n\nx\n"]);
    const server = await pool.start(combo, { popupFlags: [`--min-uid=${acct.uid + 1}`] });
    const got = answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`)).slice(1);
    expect(got).toEqual(combo.kind === "system" ? ["+OK ", AUTH_FAILED, "-ERR authorization first", "+OK "] : ["+OK ", "+OK ", "+OK 1 17", "+OK "]);
  }));

  test.concurrent("LOGIN-DELAY announced and enforced; a second session meanwhile is [IN-USE]; one answer each", () => limited(async () => {
    const acct = pool.account(combo.kind, ["Subject: m\n\nx\n"]);
    const server = await pool.start(combo, { popupFlags: ["--announce-login-delay=600"] });
    const first = await connectConversation(server.port);
    try {
      first.talk.send(`CAPA\r\n${login(acct)}STAT\r\n`);
      await first.talk.waitFor(/\+OK 1 17\r\n/);
      expect(first.talk.text).toContain("\r\nLOGIN-DELAY 600\r\n");
      // The QUIT pipelined after the refused PASS is read, not left behind: the connection ends
      // cleanly after the -ERR, not with a reset (which can throw that -ERR away on its way).
      const second = await talkToEnd(server.port, `${login(acct)}QUIT\r\n`);
      expect(answers(second.bytes).slice(1)).toEqual(["+OK ", "-ERR [IN-USE] mailbox in use by another session, try again later"]);
      expect(second.error).toBeUndefined();
      first.talk.send("QUIT\r\n");
      await first.talk.waitEnd();
    } finally {
      first.socket.destroy();
    }
    const late = await talkToEnd(server.port, `${login(acct)}QUIT\r\n`);
    expect(late.error).toBeUndefined();
    const delayed = answers(late.bytes).slice(1);
    expect(delayed.length).toBe(2);
    expect(delayed[1]).toMatch(/^-ERR \[LOGIN-DELAY\] wait \d+ more seconds/);
  }));

  test.concurrent("bulletins: a new user gets the bulletin once; an unreadable bulletin directory is only a warning", () => limited(async () => {
    const acct = pool.account(combo.kind, ["Subject: mine\n\nmine\n"]);
    const bulletins = join(pool.base, `bulletins-${combo.mode}-${combo.kind}`);
    mkdirSync(bulletins, { mode: 0o755 });
    writeFileSync(join(bulletins, "1.news"), "Subject: bulletin one\n\nto everyone\n", { mode: 0o644 });
    const server = await pool.start(combo, { popupFlags: [`--bulletins=${bulletins}`] });
    const first = (await talk(server.port, `${login(acct)}STAT\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n`)).toString("latin1");
    expect(first).toMatch(/\+OK 2 \d+\r\n/);
    expect(first).toContain("Subject: bulletin one\r\n\r\nto everyone\r\n.\r\n");
    expect(answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`))[3]).toMatch(/^\+OK 2 /); // not a second time
    const locked = join(pool.base, `locked-${combo.mode}-${combo.kind}`);
    mkdirSync(locked, { mode: 0o700 }); // root's: the user cannot read it
    writeFileSync(join(locked, "1.secret"), "Subject: hidden\n\nno\n");
    const other = pool.account(combo.kind, ["Subject: mine\n\nmine\n"]);
    const broken = await pool.start(combo, { popupFlags: [`--bulletins=${locked}`] });
    expect(answers(await talk(broken.port, `${login(other)}STAT\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "+OK ", "+OK 1 23", "+OK "]);
    expect(count(other)).toBe(1);
  }));

  test.concurrent("mbox spool: RETR, DELE, QUIT rewrites it; a spool locked by a delivery is one -ERR [IN-USE]", () => limited(async () => {
    const acct = pool.account(combo.kind, [], { maildir: false });
    const spool = join(acct.home, "mbox");
    writeFileSync(spool, "From a@example.org Thu Dec  3 05:00:00 2026\nSubject: first\n\none\n\nFrom b@example.org Thu Dec  3 05:01:00 2026\nSubject: second\n\n>From quoted\ntwo\n\n", { mode: 0o600 });
    pool.chown(acct, spool);
    const server = await pool.start(combo, { pop3dArgs: ["--lock=flock", "--lock-timeout=1", "mbox:~/mbox"] });
    const text = blankTimestamp((await talk(server.port, `${login(acct)}STAT\r\nRETR 2\r\nDELE 1\r\nQUIT\r\n`)).toString("latin1"));
    expect(text).toMatch(/\+OK 2 \d+\r\n/);
    expect(text).toContain("Subject: second\r\n\r\n>From quoted\r\ntwo\r\n");
    expect(text).toEndWith("+OK message 1 deleted\r\n+OK \r\n");
    const left = readFileSync(spool, "latin1");
    expect(left).not.toContain("Subject: first");
    expect(left).toContain("Subject: second");
    // A delivery's flock(2) on the spool, held until we close the holder's stdin (no signal, no stray child).
    const holder = Bun.spawn(["python3", "-c", "import fcntl, sys\nf = open(sys.argv[1])\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.read()", spool], { stdin: "pipe", stdout: "pipe" });
    try {
      const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
      expect(Buffer.from((await reader.read()).value ?? []).toString()).toStartWith("locked");
      reader.releaseLock();
      expect(answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`, 15_000)).slice(1)).toEqual(["+OK ", "-ERR [IN-USE] mailbox in use by another session, try again later"]);
    } finally {
      holder.stdin.end();
      await holder.exited;
    }
  }));

  test.concurrent("mbox spool: LOGIN-DELAY enforced (the record in the owner's home), log-login written, bulletins reported as not delivered, Qpopper's leftover .SPOOL.pop named", () => limited(async () => {
    const acct = pool.account(combo.kind, [], { maildir: false });
    const spool = join(acct.home, "mbox");
    writeFileSync(spool, "From a@example.org Thu Dec  3 05:00:00 2026\nSubject: first\n\none\n\n", { mode: 0o600 });
    pool.chown(acct, spool);
    // What a crashed Qpopper session (outside server mode) left beside the spool.
    writeFileSync(join(acct.home, ".mbox.pop"), "From q@example.org Thu Dec  3 04:00:00 2026\nSubject: left by Qpopper\n\nq\n\n", { mode: 0o600 });
    pool.chown(acct, join(acct.home, ".mbox.pop"));
    const bulletins = join(pool.base, `mbox-bulletins-${combo.mode}-${combo.kind}`);
    mkdirSync(bulletins, { mode: 0o755 });
    writeFileSync(join(bulletins, "1.news"), "Subject: bulletin one\n\nto everyone\n", { mode: 0o644 });
    const server = await pool.start(combo, {
      popupFlags: ["--announce-login-delay=600", "--log-login=login %0 from %2", `--bulletins=${bulletins}`],
      pop3dArgs: ["--lock=flock", "mbox:~/mbox"],
    });
    expect(answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "+OK ", "+OK 1 23", "+OK "]);
    expect(statSync(join(acct.home, ".mbox.poppin-last-login")).uid).toBe(acct.uid);
    const late = answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`)).slice(1);
    expect(late.length).toBe(2);
    expect(late[1]).toMatch(/^-ERR \[LOGIN-DELAY\] wait \d+ more seconds/);
    const log = server.log();
    expect(log).toContain(`: info: login ${acct.login} from 127.0.0.1 user=${acct.login} rip=127.0.0.1\n`);
    expect(log).toContain(`: warning: bulletins not delivered: ${spool} is an mbox spool; poppin delivers bulletins into Maildirs only user=${acct.login}`);
    expect(readFileSync(spool, "latin1")).not.toContain("bulletin one");
    expect(log).toContain(`: warning: ${join(acct.home, ".mbox.pop")} holds 73 octets of mail an unfinished Qpopper session left: append it to ${spool} (see migration.md) user=${acct.login}`);
  }));

  test.concurrent("a symlink the user planted in their Maildir to a root-only file is never served", () => limited(async () => {
    const acct = pool.account(combo.kind, ["Subject: mine\n\nmine\n"]);
    // With and without the size in the name (,S= lets a server list it without opening it).
    for (const name of ["1600000000.M1P1.evil,S=17,W=18:2,", "1600000001.M2P2.evil:2,"]) {
      const link = join(acct.maildir, "cur", name);
      symlinkSync(secretFile, link);
      lchownSync(link, acct.uid, acct.gid);
    }
    const server = await pool.shared(combo);
    const out = (await talk(server.port, `${login(acct)}LIST\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nTOP 1 0\r\nTOP 2 0\r\nQUIT\r\n`)).toString("latin1");
    expect(out).not.toContain("ROOT-ONLY-SECRET");
    expect(out).toContain("\r\nmine\r\n.\r\n");
    expect(out).toEndWith("+OK \r\n");
  }));

  test.concurrent("no Maildir: one -ERR, and the session ends", () => limited(async () => {
    const acct = pool.account(combo.kind, [], { maildir: false });
    const server = await pool.shared(combo);
    expect(answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "-ERR this user has no $HOME/Maildir"]);
  }));
});

/**
 * A local user puts FIFOs at the names poppin opens in their own Maildir: the Maildir itself
 * (the [IN-USE] lock opens it), `poppin-sizes` (the size cache, read at every login),
 * `.poppin-last-login` (LOGIN-DELAY) and `.popbull` (bulletins). open(2) of a FIFO waits for
 * the other end for ever, and a session blocked in a system call never reaches its timeout:
 * each login left a process (a mail worker under `serve --inline`, pop3d in the chain) and a
 * connection slot of serve's `-c` taken for good, holding the Maildir's session lock. A user
 * could fill the service's every slot with a few logins. Now each name is opened without
 * waiting (O_NONBLOCK, O_DIRECTORY for the Maildir) and only a regular file is used: the
 * session goes on (or, for a FIFO as the Maildir, answers one -ERR), and the next login works.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../helpers.ts";
import { talk } from "../standalone/harness.ts";
import { AccountPool, gate, MODES, PASSWORD, type Account } from "../session/modes.ts";

const pool = new AccountPool("fifo-hang");
afterAll(() => pool.close());
const limited = gate(4, pool);

const BODY = "Subject: still mine\n\nthe user's own mail\n";
const login = (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\n`;
const answers = (b: Buffer) => b.toString("latin1").split("\r\n").filter((l) => /^(\+OK|-ERR)/.test(l));

/** mkfifo `path`, the account's (as the user would make it). */
function fifoAs(acct: Account, path: string): void {
  expect(run(["mkfifo", path]).code).toBe(0);
  chownSync(path, acct.uid, acct.gid);
}

/** A whole session that must end within 8 s (it hung for good before); its answers after the greeting. */
async function session(port: number, acct: Account, commands: string): Promise<string[]> {
  return answers(await talk(port, `${login(acct)}${commands}`, 8_000)).slice(1);
}

describe.each(MODES)("%s, system users", (mode) => {
  const combo = { mode, kind: "system" as const, name: `${mode} x system` };

  test.concurrent("a FIFO at Maildir/poppin-sizes: the session is served, the next one too", () => limited(async () => {
    const acct = pool.account("system", [BODY]);
    fifoAs(acct, join(acct.maildir, "poppin-sizes"));
    const server = await pool.shared(combo);
    const first = await talk(server.port, `${login(acct)}STAT\r\nRETR 1\r\nQUIT\r\n`, 8_000);
    expect(first.toString("latin1")).toContain("the user's own mail\r\n.\r\n");
    expect(answers(first).slice(1)).toEqual(["+OK ", "+OK ", "+OK 1 44", "+OK 44 octets", "+OK "]);
    // The session ended and let the Maildir go: not [IN-USE].
    expect(await session(server.port, acct, "STAT\r\nQUIT\r\n")).toEqual(["+OK ", "+OK ", "+OK 1 44", "+OK "]);
  }));

  test.concurrent("a FIFO as the Maildir itself: one -ERR at once, and the Maildir put back is served", () => limited(async () => {
    const acct = pool.account("system", [BODY]);
    const real = join(acct.home, "Maildir.real");
    renameSync(acct.maildir, real);
    fifoAs(acct, acct.maildir);
    const server = await pool.shared(combo);
    const got = await session(server.port, acct, "STAT\r\nQUIT\r\n");
    expect(got[0]).toBe("+OK ");
    expect(got[1]).toStartWith("-ERR ");
    expect(got).not.toContain("+OK 1 44");
    rmSync(acct.maildir);
    renameSync(real, acct.maildir);
    expect(await session(server.port, acct, "STAT\r\nQUIT\r\n")).toEqual(["+OK ", "+OK ", "+OK 1 44", "+OK "]);
  }));

  test.concurrent("a FIFO at .poppin-last-login (LOGIN-DELAY): the session is served", () => limited(async () => {
    const acct = pool.account("system", [BODY]);
    fifoAs(acct, join(acct.maildir, ".poppin-last-login"));
    const server = await pool.shared(combo, "login-delay", { popupFlags: ["--announce-login-delay=600"] });
    expect(await session(server.port, acct, "STAT\r\nQUIT\r\n")).toEqual(["+OK ", "+OK ", "+OK 1 44", "+OK "]);
    expect(lstatSync(join(acct.maildir, ".poppin-last-login")).isFIFO()).toBe(true);
  }));

  test.concurrent("a FIFO at .popbull (bulletins): the bulletin is delivered, the session is served", () => limited(async () => {
    const acct = pool.account("system", [BODY]);
    fifoAs(acct, join(acct.maildir, ".popbull"));
    const bulletins = join(pool.base, `bulletins-${mode}`);
    mkdirSync(bulletins, { recursive: true, mode: 0o755 });
    writeFileSync(join(bulletins, "1.news"), "Subject: bulletin\n\nto everyone\n", { mode: 0o644 });
    const server = await pool.shared(combo, "bulletins", { popupFlags: [`--bulletins=${bulletins}`] });
    const got = await session(server.port, acct, "STAT\r\nQUIT\r\n");
    expect(got.slice(0, 2)).toEqual(["+OK ", "+OK "]);
    expect(got[2]).toMatch(/^\+OK 2 \d+$/);
    expect(got[3]).toBe("+OK ");
    // .popbull is replaced by a regular file (renamed over the FIFO): the bulletin is not delivered again.
    expect(lstatSync(join(acct.maildir, ".popbull")).isFile()).toBe(true);
    expect((await session(server.port, acct, "STAT\r\nQUIT\r\n"))[2]).toBe(got[2]);
  }));
});

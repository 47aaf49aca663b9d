/**
 * popup's options under every mode x kind of user: downcase-user and trim-domain,
 * auto-delete, update-on-abort, the per-address failure limit, clear-text-password=never
 * with APOP, and a session's log lines (end=, the failure warning) the same in every mode.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { connectConversation } from "../pop3/conversation.ts";
import { MAIL_GID, MAIL_UID, talk } from "../standalone/harness.ts";
import { AccountPool, gate, MATRIX, PASSWORD, type Account } from "./modes.ts";

const pool = new AccountPool("matrix-options");
afterAll(() => pool.close());
const limited = gate(8, pool);

const MESSAGES = ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n", "Subject: three\n\nthird\n"];
const login = (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\n`;
const answers = (b: Buffer) => b.toString("latin1").split("\r\n").filter((l) => /^(\+OK|-ERR)/.test(l));
const names = (acct: Account) => ["new", "cur"].flatMap((sub) => readdirSync(join(acct.maildir, sub))).map((n) => n.replace(/:2,.*$/, "")).sort();

describe.each(MATRIX)("$name", (combo) => {
  test.concurrent("downcase-user and trim-domain: USER NAME@Example.ORG is the account; auto-delete removes what RETR sent", () => limited(async () => {
    const acct = pool.account(combo.kind, MESSAGES);
    const server = await pool.shared(combo, "names", { popupFlags: ["--downcase-user", "--trim-domain", "--auto-delete"] });
    const before = names(acct);
    const got = answers(await talk(server.port, `USER ${acct.login.toUpperCase()}@Example.ORG\r\nPASS ${PASSWORD}\r\nRETR 2\r\nQUIT\r\n`));
    expect(got.slice(1, 4)).toEqual(["+OK ", "+OK ", "+OK 24 octets"]);
    expect(got.at(-1)).toBe("+OK ");
    expect(names(acct)).toEqual([before[0], before[2]]);
    await Bun.sleep(100);
    expect(server.log()).toMatch(new RegExp(`end=quit user=${acct.login} rip=127\\.0\\.0\\.1 messages=3 retrieved=1 octets=\\d+ deleted=1\\n`));
  }));

  test.concurrent("update-on-abort: a session that breaks off after DELE removes what it marked; without it, nothing", () => limited(async () => {
    const marked = pool.account(combo.kind, MESSAGES);
    const kept = pool.account(combo.kind, MESSAGES);
    const aborting = await pool.shared(combo, "abort", { popupFlags: ["--update-on-abort"] });
    const plain = await pool.shared(combo);
    for (const [server, acct] of [[aborting, marked], [plain, kept]] as const) {
      const { talk: c, socket } = await connectConversation(server.port);
      c.send(`${login(acct)}DELE 1\r\nDELE 3\r\n`);
      await c.waitFor("+OK message 3 deleted\r\n");
      socket.destroy();
    }
    for (let i = 0; i < 50 && names(marked).length !== 1; i++) await Bun.sleep(100);
    expect(names(marked)).toEqual(["1700000001.M101P4001.test.example"]);
    expect(names(kept).length).toBe(3);
  }));

  test.concurrent("auth-failure-limit: after 2 failures from an address even the right password is refused, with the reason logged", () => limited(async () => {
    const acct = pool.account(combo.kind, MESSAGES);
    const dir = join(pool.base, `failures-${combo.mode}-${combo.kind}`);
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, MAIL_UID, MAIL_GID); // popup's uid under -u; root for system users
    const server = await pool.start(combo, { popupFlags: [`--auth-failure-dir=${dir}`, "--auth-failure-limit=2", "--auth-failure-window=600"] });
    expect(answers(await talk(server.port, `USER ${acct.login}\r\nPASS bad1\r\nPASS bad2\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "-ERR [AUTH] authorization failed", "-ERR [AUTH] authorization failed", "+OK "]);
    expect(answers(await talk(server.port, `${login(acct)}STAT\r\nQUIT\r\n`)).slice(1)).toEqual(["+OK ", "-ERR [AUTH] authorization failed", "-ERR authorization first", "+OK "]);
    await Bun.sleep(100);
    expect(server.log()).toMatch(new RegExp(`popup: warning: authorization failed rip=127\\.0\\.0\\.1 user=${acct.login}( mech=\\w+)? why=too%20many%20failed%20logins%20from%20this%20address\n`));
    expect(server.log()).not.toContain("bad1");
  }));

  test.concurrent("clear-text-password=never: USER and AUTH PLAIN refused [SYS/PERM], CAPA lists neither USER nor PLAIN; APOP logs in", () => limited(async () => {
    const acct = pool.account(combo.kind, MESSAGES);
    const server = await pool.shared(combo, "never", { popupFlags: ["--clear-text-password=never", "--apop"] });
    const { talk: c, socket } = await connectConversation(server.port);
    try {
      const greeting = await c.waitFor(/^\+OK [^\r]*<[^>]+>\r\n/);
      const stamp = /<[^>]+>/.exec(greeting)![0];
      c.send(`CAPA\r\n${login(acct)}AUTH PLAIN ${Buffer.from(`\0${acct.login}\0${PASSWORD}`).toString("base64")}\r\n`);
      c.send(`APOP ${acct.login} ${createHash("md5").update(stamp + acct.apopSecret).digest("hex")}\r\nSTAT\r\nCAPA\r\nQUIT\r\n`);
      await c.waitEnd(15_000);
      const end = c.text.indexOf("\r\n.\r\n");
      expect(end).toBeGreaterThan(0);
      const capa = c.text.slice(0, end);
      expect(capa).toContain("\r\nTOP\r\n");
      expect(capa).not.toContain("\r\nUSER\r\n");
      expect(capa).not.toMatch(/\r\nSASL [^\r]*PLAIN/); // SCRAM, where the account has its keys, is no clear-text password
      // After the APOP login CAPA still lists neither (RFC 2449 section 5: the same in both states).
      const rest = c.text.slice(end + 5);
      const second = rest.indexOf("+OK capability list follows\r\n");
      expect(second).toBeGreaterThan(0);
      const secondEnd = rest.indexOf("\r\n.\r\n", second);
      const capaAfter = rest.slice(second, secondEnd);
      expect(capaAfter).toContain("\r\nTOP\r\n");
      expect(capaAfter).not.toContain("\r\nUSER\r\n");
      expect(capaAfter).not.toMatch(/\r\nSASL [^\r]*PLAIN/);
      const lines = (rest.slice(0, second) + rest.slice(secondEnd + 5)).split("\r\n").filter((l) => l !== "");
      expect(lines.slice(0, 3).every((l) => l.startsWith("-ERR [SYS/PERM] "))).toBe(true);
      expect(lines.slice(3)).toEqual(["+OK ", "+OK 3 72", "+OK "]);
    } finally {
      socket.destroy();
    }
  }));
});

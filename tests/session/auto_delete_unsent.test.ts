/**
 * Qpopper's auto-delete (and EXPIRE 0) removes at QUIT what RETR sent, and only that. RETR
 * marked the message deleted before it was even opened, so a message the session could not
 * read (a file the user may not read: a delivery agent's mistake, an I/O error) answered
 * -ERR and was removed at QUIT all the same, and with update-on-abort a RETR the client broke
 * off half-way removed the message it never got. Both lose mail the client never had. In
 * every mode, for system users (serve as root) and virtual users (-u).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectConversation } from "../pop3/conversation.ts";
import { talk } from "../standalone/harness.ts";
import { AccountPool, gate, MATRIX, PASSWORD, type Account } from "./modes.ts";

const pool = new AccountPool("auto-delete-unsent");
afterAll(() => pool.close());
const limited = gate(4, pool);

const login = (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\n`;
const answers = (b: Buffer) => b.toString("latin1").split("\r\n").filter((l) => /^(\+OK|-ERR)/.test(l));
const names = (acct: Account) => ["new", "cur"].flatMap((sub) => readdirSync(join(acct.maildir, sub))).map((n) => n.replace(/:2,.*$/, "")).sort();

describe.each(MATRIX)("$name", (combo) => {
  test.concurrent("auto-delete: a message RETR could not read (-ERR) stays after QUIT; the one it sent goes", () => limited(async () => {
    const acct = pool.account(combo.kind, ["Subject: readable\n\nfine\n"]);
    // A message the session may not read (root's, mode 0600), listed first by its name's time;
    // its name carries its sizes, so the listing shows it without reading it (as Dovecot's names do).
    const unreadable = "1600000000.M1P1.test.example,S=47,W=50";
    writeFileSync(join(acct.maildir, "cur", `${unreadable}:2,`), "Subject: root's mistake\n\nstill the user's mail\n", { mode: 0o600 });
    chownSync(join(acct.maildir, "cur", `${unreadable}:2,`), 0, 0);
    const server = await pool.shared(combo, "auto-delete", { popupFlags: ["--auto-delete"] });
    const got = answers(await talk(server.port, `${login(acct)}STAT\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n`, 15_000));
    expect(got.slice(1, 4)).toEqual(["+OK ", "+OK ", "+OK 2 77"]);
    expect(got[4]).toStartWith("-ERR ");
    expect(got.slice(5)).toEqual(["+OK 27 octets", "+OK "]);
    expect(names(acct)).toEqual([unreadable]);
  }));

  test.concurrent("auto-delete with update-on-abort: a RETR broken off by the client removes nothing", () => limited(async () => {
    // Bigger than any socket buffer on loopback: the client goes away while it is being sent.
    const big = `Subject: big\n\n${"0123456789abcdef".repeat(4).concat("\n").repeat(400_000)}`;
    const acct = pool.account(combo.kind, [big, "Subject: small\n\nsmall\n"]);
    const before = names(acct);
    const server = await pool.shared(combo, "auto-delete-abort", { popupFlags: ["--auto-delete", "--update-on-abort"] });
    const { talk: c, socket } = await connectConversation(server.port);
    c.send(`${login(acct)}RETR 2\r\n`);
    await c.waitFor("small\r\n.\r\n");
    c.send("RETR 1\r\n");
    await c.waitFor(" octets\r\n");
    socket.destroy();
    // The session ends (the server sees the reset), removing what it marked: message 2 only.
    for (let i = 0; i < 100 && names(acct).length === 2; i++) await Bun.sleep(100);
    await Bun.sleep(300);
    expect(names(acct)).toEqual([before[0]]);
  }));
});

/**
 * EXPIRE n enforced: a message retrieved n or more days ago is removed at a later session's
 * UPDATE. Unit tests drive ExpiringMailbox with their own clock over a real Maildir and a
 * real mbox spool; end to end, in every mode, a first session's RETR is recorded (UIDL and
 * day, in DIR/poppin-retrieved) and, with the record aged as days passing would age it, a
 * later session's QUIT removes what expired and keeps the rest.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openSpoolMailbox } from "../../mod/mbox/open_spool_mailbox.ts";
import { defaultMboxSettings } from "../../mod/mbox/options.ts";
import { ExpiringMailbox, RETRIEVAL_RECORD_NAME, dayNumber, readRetrievalRecord } from "../../mod/pop3/expire.ts";
import type { Mailbox } from "../../mod/pop3/mailbox.ts";
import { MaildirMailbox } from "../../mod/pop3/maildir_mailbox.ts";
import { tempDir } from "../helpers.ts";
import { connectConversation, makeMaildir } from "../pop3/conversation.ts";
import { MAIL_GID, MAIL_UID, talk, virtualSetup, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "./modes.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 20, 12);

/** One session: RETR the listed indices (marking them retrieved), then UPDATE with `dele` marked; returns how many were removed. */
function run(open: () => Mailbox, record: string, days: number, nowMs: number, retr: number[], dele: number[] = []): number {
  const mailbox = new ExpiringMailbox(open(), { days, record, now: () => nowMs });
  for (const i of retr) {
    mailbox.open(i).close();
    mailbox.retrieved(i);
  }
  return mailbox.remove(dele).removed;
}

describe("ExpiringMailbox with a clock of the test's", () => {
  test("Maildir: retrieved on day 0, kept on day 2, removed at the UPDATE of day 3 (EXPIRE 3); never-retrieved mail stays", () => {
    const home = tempDir("expire");
    makeMaildir(home, ["Subject: 1\n\na\n", "Subject: 2\n\nb\n", "Subject: 3\n\nc\n"]);
    const dir = join(home, "Maildir");
    const record = join(dir, RETRIEVAL_RECORD_NAME);
    const open = () => new MaildirMailbox(dir);
    expect(run(open, record, 3, T0, [0])).toBe(0);
    const uidl0 = open().messages[0]!.uidl;
    expect(readFileSync(record, "latin1")).toBe(`${uidl0} ${dayNumber(T0)}\n`);
    expect(run(open, record, 3, T0 + 1 * DAY, [1])).toBe(0); // message 2 retrieved on day 1
    expect(run(open, record, 3, T0 + 2 * DAY + DAY / 4, [])).toBe(0); // 18:00 on day 2
    expect(readdirSync(join(dir, "cur")).length).toBe(3);
    expect(run(open, record, 3, T0 + 3 * DAY, [])).toBe(1);
    expect(open().messages.map((m) => m.uidl)).not.toContain(uidl0);
    expect(open().messages.length).toBe(2);
    expect(run(open, record, 3, T0 + 4 * DAY, [])).toBe(1);
    expect(open().messages.length).toBe(1); // never retrieved: stays
    expect(run(open, record, 3, T0 + 400 * DAY, [])).toBe(0);
    expect(readRetrievalRecord(record).size).toBe(0); // entries of removed messages are dropped
    expect(readdirSync(dir).filter((n) => n.startsWith(".poppin-retrieved"))).toEqual([]); // no temporary left
  });

  test("the first retrieval day counts (a later RETR does not restart it); DELE'd messages leave the record", () => {
    const home = tempDir("expire");
    makeMaildir(home, ["Subject: 1\n\na\n", "Subject: 2\n\nb\n"]);
    const dir = join(home, "Maildir");
    const record = join(dir, RETRIEVAL_RECORD_NAME);
    const open = () => new MaildirMailbox(dir);
    run(open, record, 5, T0, [0, 1]);
    run(open, record, 5, T0 + 4 * DAY, [0], [1]);
    expect([...readRetrievalRecord(record).values()]).toEqual([dayNumber(T0)]);
    expect(run(open, record, 5, T0 + 5 * DAY, [])).toBe(1);
    expect(open().messages.length).toBe(0);
  });

  test("a record that is a symlink, or not ours, is not trusted and is replaced, never followed", () => {
    const home = tempDir("expire");
    makeMaildir(home, ["Subject: 1\n\na\n"]);
    const dir = join(home, "Maildir");
    const record = join(dir, RETRIEVAL_RECORD_NAME);
    const target = join(home, "elsewhere");
    const uidl = new MaildirMailbox(dir).messages[0]!.uidl;
    writeFileSync(target, `${uidl} 1\n`);
    symlinkSync(target, record);
    expect(run(() => new MaildirMailbox(dir), record, 1, T0, [])).toBe(0); // day 1 of 1970 not believed
    expect(readFileSync(target, "latin1")).toBe(`${uidl} 1\n`);
    if (process.getuid?.() === 0) {
      writeFileSync(record + ".x", `${uidl} 1\n`);
      chownSync(record + ".x", 4242, 4242);
      expect(readRetrievalRecord(record + ".x").size).toBe(0);
    }
  });

  test("mbox: the same by the spool's UIDLs; the expired message is cut from the spool", () => {
    const dir = tempDir("expire-mbox");
    const spool = join(dir, "mbox");
    writeFileSync(spool, ["a", "b", "c"].map((s) => `From x@example.org Thu Nov 20 12:00:00 2026\nSubject: ${s}\n\nbody ${s}\n\n`).join(""));
    const settings = defaultMboxSettings();
    const open = () => openSpoolMailbox(`mbox:${spool}`, settings, { cwd: dir }, () => {});
    const record = join(dir, `.mbox.${RETRIEVAL_RECORD_NAME}`);
    run(open, record, 2, T0, [1]);
    expect(run(open, record, 2, T0 + DAY, [])).toBe(0);
    expect(run(open, record, 2, T0 + 2 * DAY, [])).toBe(1);
    const left = readFileSync(spool, "latin1");
    expect(left).toContain("Subject: a\n");
    expect(left).not.toContain("Subject: b\n");
    expect(left).toContain("Subject: c\n");
  });
});

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe.each(MODES)("%s", (mode) => {
  test("announce-expire=3: RETR is recorded at QUIT; three days on, the next QUIT removes it; EXPIRE 3 in CAPA", async () => {
    const setup = virtualSetup(["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n", "Subject: three\n\nthird\n"]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb }, ["--announce-expire=3", "--mailbox-lock=none"]);
    servers.push(server);
    const login = "USER joe\r\nPASS secret\r\n";
    const first = (await talk(server.port, `${login}CAPA\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n`)).toString("latin1");
    expect(first).toContain("EXPIRE 3\r\n");
    const uidls = [...first.matchAll(/^([123]) (\S+)\r$/gm)].map((m) => m[2]!);
    expect(uidls.length).toBe(3);
    const record = join(setup.maildir, RETRIEVAL_RECORD_NAME);
    const today = dayNumber(Date.now());
    // The record is the user's (read here as root, who is not its owner: as text).
    expect(readFileSync(record, "latin1")).toBe(`${uidls[0]} ${today}\n${uidls[1]} ${today}\n`);
    // Days pass: message 1 was retrieved three days ago, message 2 two days ago.
    writeFileSync(record, `${uidls[0]} ${today - 3}\n${uidls[1]} ${today - 2}\n`);
    chownSync(record, MAIL_UID, MAIL_GID);
    // A session that ends without QUIT has no UPDATE: nothing is removed.
    const { talk: aborted, socket } = await connectConversation(server.port);
    aborted.send(`${login}STAT\r\n`);
    await aborted.waitFor(/\+OK 3 \d+\r\n/);
    socket.destroy();
    await Bun.sleep(200);
    const second = (await talk(server.port, `${login}STAT\r\nQUIT\r\n`)).toString("latin1");
    expect(second).toMatch(/\+OK 3 \d+\r\n\+OK \r\n$/);
    const left = (await talk(server.port, `${login}UIDL\r\nQUIT\r\n`)).toString("latin1");
    expect(left).not.toContain(uidls[0]!);
    expect(left).toContain(`1 ${uidls[1]}\r\n`);
    expect(left).toContain(`2 ${uidls[2]}\r\n`);
    await Bun.sleep(100);
    expect(server.log()).toMatch(/end=quit user=joe rip=127\.0\.0\.1 messages=3 retrieved=0 octets=0 deleted=1\n/);
    expect(existsSync(record)).toBe(true);
  });
});

describe.each(["classic", "processes"] as const)("%s, mbox spool", (mode) => {
  test("announce-expire=2 on an mbox spool: the record lives in the owner's home; two days on, QUIT cuts the message from the spool", async () => {
    const setup = virtualSetup([]);
    const spool = join(setup.home, "mbox");
    writeFileSync(spool, ["a", "b"].map((s) => `From x@example.org Thu Nov 20 12:00:00 2026\nSubject: ${s}\n\nbody ${s}\n\n`).join(""));
    chownSync(spool, MAIL_UID, MAIL_GID);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb }, ["--announce-expire=2"], ["mbox:~/mbox"]);
    servers.push(server);
    const login = "USER joe\r\nPASS secret\r\n";
    const first = (await talk(server.port, `${login}UIDL 1\r\nRETR 1\r\nQUIT\r\n`)).toString("latin1");
    const uidl = /^\+OK 1 (\S+)\r$/m.exec(first)![1]!;
    const record = join(setup.home, `.mbox.${RETRIEVAL_RECORD_NAME}`);
    const today = dayNumber(Date.now());
    expect(readFileSync(record, "latin1")).toBe(`${uidl} ${today}\n`);
    writeFileSync(record, `${uidl} ${today - 2}\n`);
    chownSync(record, MAIL_UID, MAIL_GID);
    expect((await talk(server.port, `${login}STAT\r\nQUIT\r\n`)).toString("latin1")).toMatch(/\+OK 2 \d+\r\n\+OK \r\n$/);
    const left = readFileSync(spool, "latin1");
    expect(left).not.toContain("Subject: a\n");
    expect(left).toContain("Subject: b\n");
  });
});

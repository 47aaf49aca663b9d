/**
 * mbox messages carrying the mailbox's bookkeeping fields (Status:, X-Status:,
 * Content-Length:, X-UID, X-Keywords, X-IMAP, X-IMAPbase; any case, folded, anywhere in the
 * header) against Debian's Dovecot POP3 on a copy of the same spool (run pre-authenticated,
 * as bench/dovecot_harness.ts does): LIST, and every RETR and TOP, byte for byte. UIDLs stay
 * what they were: the same as for the messages without those fields, and the same after a
 * session's QUIT has written Status: RO into the spool.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOVECOT_POP3, preauthDovecot, preauthRunner } from "../../bench/dovecot_harness.ts";
import { POPPIN, tempDir } from "../helpers.ts";
import { pipedSession } from "../pipe_session.ts";

const MESSAGES = [
  "Return-Path: <alice@example.org>\nSubject: one\nStatus: RO\nX-Status: A\nX-UID: 7\nX-Keywords: $Label1\n\tmore\nContent-Length: 6\nX-UIDL: abc123\n\nhello\n",
  "X-IMAPbase: 1234 5\nX-IMAP: 1234 5\nSubject: two\nstatus: O\n\nbody two\nline\n",
  "Subject: three\n\nplain, nothing hidden\n",
  "Subject: four\nCONTENT-LENGTH: 21\nX-Status: F\n\nFrom inside the body\n",
  "Status: RO\nX-Status:\nX-UID: 9\n\nonly hidden fields above\n",
  "Subject: six\nX-Keywords: a\n b\n c\nTo: x@example.org\nX-Status: D\nX-Other: kept\nX-UIDx: kept too\n\nbody\n",
  "From: a@b\nSubject: seven\nStatus: O\n\n>From quoted\nStatus: in the body stays\n",
];

function spoolText(messages: readonly string[]): string {
  return messages.map((m, i) => `From sender${i}@example.org Mon Nov 30 10:0${i}:00 2026\n${m}\n`).join("");
}

/** The message without the hidden fields (continuation lines included) but Content-Length, which keeps its body whole. */
function withoutHidden(message: string): string {
  const [head, ...body] = message.split("\n\n");
  const kept: string[] = [];
  let hiding = false;
  for (const line of head!.split("\n")) {
    if (/^[ \t]/.test(line)) { if (!hiding) kept.push(line); continue; }
    hiding = /^(status|x-imap|x-imapbase|x-keywords|x-status|x-uid):/i.test(line);
    if (!hiding) kept.push(line);
  }
  const rest = body.join("\n\n");
  return kept.length > 0 ? `${kept.join("\n")}\n\n${rest}` : `\n${rest}`;
}

const runner = preauthRunner();
const root = tempDir("mbox-dovecot");
chmodSync(root, 0o755); // as root both servers run as nobody (Dovecot refuses root)

function home(name: string, text: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "mail"), { recursive: true });
  writeFileSync(join(dir, "spool"), text);
  runner.chown(dir);
  return dir;
}


function poppin(dir: string, commands: string): Promise<string> {
  return pipedSession([...runner.prefix, "env", `USER=${runner.user}`, `HOME=${dir}`, POPPIN, "pop3d", "mbox:spool"], dir, commands);
}

function dovecot(dir: string, commands: string): Promise<string> {
  return pipedSession(preauthDovecot(runner, dir, `mbox:${dir}/mail:INBOX=${dir}/spool`, ["mbox_read_locks = fcntl", "mbox_write_locks = dotlock fcntl"]), dir, commands);
}

/** The answers, each multi-line one kept whole; pop3d greets first, Dovecot's pre-authenticated pop3 does not. */
function answers(session: string, greeting: boolean): string[] {
  return session.split(/(?<=\r\n)(?=[+-](?:OK|ERR))/).slice(greeting ? 1 : 0);
}

describe("hidden header fields: the same LIST, RETR and TOP as Dovecot's POP3", () => {
  test("Dovecot's POP3 is installed (apt-get install dovecot-pop3d)", () => {
    expect(existsSync(DOVECOT_POP3)).toBe(true);
    expect(runner.dovecot).toBe(true);
  });

  test("LIST and every RETR and TOP, byte for byte", async () => {
    const text = spoolText(MESSAGES);
    const commands = ["LIST", ...MESSAGES.map((_, i) => `RETR ${i + 1}`), ...MESSAGES.map((_, i) => `TOP ${i + 1} 1`), "QUIT"].map((c) => `${c}\r\n`).join("");
    const ours = answers(await poppin(home("ours", text), commands), true);
    const theirs = answers(await dovecot(home("theirs", text), commands), false);
    expect(ours.length).toBe(2 + 2 * MESSAGES.length);
    // LIST: the counts in the first line are worded differently ("+OK 7 messages:" against "+OK"): compare the lines.
    const listLines = (a: string) => a.split("\r\n").slice(1);
    expect(listLines(ours[0]!)).toEqual(listLines(theirs[0]!));
    for (let i = 1; i <= 2 * MESSAGES.length; i++) {
      const body = (a: string) => a.slice(a.indexOf("\r\n") + 2);
      expect({ n: i, text: body(ours[i]!) }).toEqual({ n: i, text: body(theirs[i]!) });
    }
    expect(ours[1]).not.toContain("X-Status");
    expect(ours[1]).toContain("X-UIDL: abc123\r\n");
  });

  test("UIDLs: the same as for the messages without those fields, and after Status: RO is written", async () => {
    const uidls = async (dir: string) => (await poppin(dir, "UIDL\r\nQUIT\r\n")).split("\r\n").filter((l) => /^\d+ /.test(l));
    const withFields = home("uidl-with", spoolText(MESSAGES));
    const without = home("uidl-without", spoolText(MESSAGES.map(withoutHidden)));
    const before = await uidls(withFields);
    expect(before.length).toBe(MESSAGES.length);
    expect(before[0]).toBe("1 abc123");
    expect(before).toEqual(await uidls(without));
    const list = await poppin(withFields, "LIST\r\nQUIT\r\n");
    // Reading every message makes QUIT write Status: RO; sizes and UIDLs stay.
    await poppin(withFields, MESSAGES.map((_, i) => `RETR ${i + 1}\r\n`).join("") + "QUIT\r\n");
    expect(readFileSync(join(withFields, "spool"), "latin1")).toContain("Subject: three\nStatus: RO\n");
    expect(await uidls(withFields)).toEqual(before);
    expect(await poppin(withFields, "LIST\r\nQUIT\r\n")).toBe(list);
    // And the same once the scan cache is gone (a fresh scan of the rewritten spool).
    copyFileSync(join(withFields, "spool"), join(withFields, "spool.copy"));
    const fresh = home("uidl-fresh", readFileSync(join(withFields, "spool.copy"), "latin1"));
    expect(await uidls(fresh)).toEqual(before);
    expect(await poppin(fresh, "LIST\r\nQUIT\r\n")).toBe(list);
  });
});

/** UW IMAP's folder data, as c-client writes it at the top of a spool it has opened. */
const FOLDER_DATA = "From MAILER-DAEMON Fri Dec  4 10:00:00 2026\nDate: Fri, 4 Dec 2026 10:00:00 +0000\n"
  + "From: Mail System Internal Data <MAILER-DAEMON@example.org>\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
  + "Message-ID: <1796394022@example.org>\nX-IMAP: 1796394022 0000000002\nStatus: RO\n\n"
  + "This text is part of the internal format of your mail folder, and is not\na real message.\n\n";

describe("UW IMAP's FOLDER INTERNAL DATA message: never listed, as Dovecot and Qpopper hide it", () => {
  test("the same STAT, LIST, UIDL count, RETR and TOP as Dovecot's POP3; DELE 1 and QUIT keep the folder data in the spool", async () => {
    // An X-IMAP field in a later message is no folder data: that message is listed (by both).
    const later = "Subject: later\nX-IMAP: 1 2\n\nlater body\n";
    const text = FOLDER_DATA + spoolText([MESSAGES[2]!, later]);
    const commands = "STAT\r\nLIST\r\nRETR 1\r\nRETR 2\r\nTOP 1 0\r\nRETR 3\r\nQUIT\r\n";
    const ours = answers(await poppin(home("uw-ours", text), commands), true);
    const theirs = answers(await dovecot(home("uw-theirs", text), commands), false);
    expect(ours[0]).toBe("+OK 2 71\r\n");
    expect(ours[0]).toBe(theirs[0]);
    const body = (a: string) => a.slice(a.indexOf("\r\n") + 2);
    for (let i = 1; i <= 4; i++) expect({ i, text: body(ours[i]!) }).toEqual({ i, text: body(theirs[i]!) });
    expect(ours[2]).toContain("plain, nothing hidden");
    expect(ours[5]).toStartWith("-ERR ");
    expect(theirs[5]).toStartWith("-ERR ");
    const dir = home("uw-dele", text);
    expect(await poppin(dir, "DELE 1\r\nDELE 2\r\nQUIT\r\n")).toEndWith("+OK \r\n");
    expect(readFileSync(join(dir, "spool"), "latin1")).toBe(FOLDER_DATA);
    expect(await poppin(dir, "STAT\r\nQUIT\r\n")).toContain("+OK 0 0\r\n");
  });
});

describe("--uidl-format: the UIDLs Dovecot's POP3 showed for a spool it served (its X-UID and X-IMAPbase fields)", () => {
  const withFormat = (dir: string, commands: string, format = "%08Xu%08Xv") =>
    pipedSession([...runner.prefix, "env", `USER=${runner.user}`, `HOME=${dir}`, POPPIN, "pop3d", `--uidl-format=${format}`, "mbox:spool"], dir, commands);
  const uidls = (out: string) => out.split("\r\n").filter((l) => /^\d+ \S+$/.test(l));

  test("the same listing as Dovecot's, before and after a QUIT that rewrote the spool; later mail keeps poppin's own", async () => {
    const dir = home("uidl-dovecot", spoolText(MESSAGES.slice(2, 5)));
    const theirs = uidls(await dovecot(dir, "UIDL\r\nQUIT\r\n")); // Dovecot writes X-UID and X-IMAPbase here
    expect(theirs.length).toBe(3);
    expect(theirs[0]).toMatch(/^1 00000001[0-9a-f]{8}$/);
    expect(readFileSync(join(dir, "spool"), "latin1")).toContain("X-IMAPbase: ");
    expect(uidls(await withFormat(dir, "UIDL\r\nQUIT\r\n"))).toEqual(theirs);
    expect(uidls(await poppin(dir, "UIDL\r\nQUIT\r\n"))[0]).not.toBe(theirs[0]); // poppin's own without the option
    // DELE 1 and QUIT rewrite the spool without message 1, which carried X-IMAPbase: the
    // UIDVALIDITY recorded in the home keeps the others' UIDLs Dovecot's.
    expect(readFileSync(join(dir, ".spool.poppin-uidvalidity"), "latin1")).toBe(`${parseInt(theirs[0]!.slice(10), 16)}\n`);
    expect(await withFormat(dir, "DELE 1\r\nQUIT\r\n")).toEndWith("+OK \r\n");
    expect(readFileSync(join(dir, "spool"), "latin1")).not.toContain("X-IMAPbase: ");
    const after = uidls(await withFormat(dir, "UIDL\r\nQUIT\r\n"));
    expect(after.map((l) => l.split(" ")[1])).toEqual(theirs.slice(1).map((l) => l.split(" ")[1]));
    // Delivered after Dovecot's last session: no X-UID, so poppin's own UIDL (no client has seen it).
    writeFileSync(join(dir, "spool"), readFileSync(join(dir, "spool"), "latin1") + spoolText(["Subject: late\n\nlate mail\n"]).replace(/^From sender0/, "From late"));
    runner.chown(dir);
    const grown = uidls(await withFormat(dir, "UIDL\r\nQUIT\r\n"));
    expect(grown.slice(0, 2)).toEqual(after);
    expect(grown[2]).toMatch(/^3 [0-9a-f]{32}$/); // poppin's digest, not a Dovecot UID
  });

  test("convert mbox --uidl-format: the Maildir lists the UIDLs Dovecot showed for the spool", async () => {
    const dir = home("uidl-convert", spoolText(MESSAGES.slice(2, 5)));
    const theirs = uidls(await dovecot(dir, "UIDL\r\nQUIT\r\n"));
    const r = Bun.spawnSync([POPPIN, "convert", "mbox", "--lock=fcntl", "--uidl-format=%08Xu%08Xv", join(dir, "spool"), join(dir, "Maildir")], { stderr: "pipe" });
    expect(r.stderr.toString()).toContain("3 messages, 3 copied, 0 already there, 3 removed from the spool");
    expect(r.exitCode).toBe(0);
    const listing = await pipedSession([...runner.prefix, "env", `USER=${runner.user}`, `HOME=${dir}`, POPPIN, "pop3d", "Maildir"], dir, "UIDL\r\nQUIT\r\n");
    expect(uidls(listing)).toEqual(theirs);
  });

  test("a format an mbox message cannot give (%f, %g, %m) is a usage error", () => {
    for (const format of ["%f", "%g", "%m"]) {
      const r = Bun.spawnSync([POPPIN, "pop3d", `--uidl-format=${format}`, "mbox:spool"], { stdin: Buffer.from("QUIT\r\n"), cwd: root });
      expect(r.stderr.toString()).toContain(`pop3d option --uidl-format=${format} is not a usable mbox option`);
      expect(r.exitCode).toBe(100);
    }
  });
});

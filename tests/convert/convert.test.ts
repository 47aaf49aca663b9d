/**
 * `poppin convert mbox SPOOL MAILDIR`: a spool written by procmail, read by POP3 clients
 * (some messages left with Status: RO), moved to a Maildir: pop3d on the Maildir lists
 * the same UIDLs and sends the same bytes; flags follow Status:; killed at random moments,
 * a second run ends with every message exactly once; progress on a terminal and off it.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { oneSession, procmailDeliver, uidlLines } from "../mbox/spool_tools.ts";

function convert(args: string[], cwd: string) {
  return run([POPPIN, "convert", "mbox", ...args], { cwd, env: { PATH: "/usr/bin:/bin", HOME: cwd } });
}

/** UIDL, then RETR of every message, in one session (no Status: update on the spool): the listing and the raw output. */
function everything(mailbox: string, cwd: string, count: number): { uidls: string[]; retr: string } {
  const commands = Array.from({ length: count }, (_, i) => `RETR ${i + 1}\r\n`).join("");
  const r = oneSession(mailbox.startsWith("mbox:") ? ["--no-status-update", mailbox] : [mailbox], `UIDL\r\n${commands}QUIT\r\n`, cwd);
  return { uidls: uidlLines(r.out), retr: r.out.slice(r.out.indexOf("\r\n.\r\n") + 5) };
}

describe("convert mbox", () => {
  test("UIDLs and message bytes are the same on the Maildir; Status: becomes flags; the spool is emptied", () => {
    requireTool("procmail");
    const dir = tempDir("convert");
    const spool = join(dir, "mbox");
    procmailDeliver(spool, "From: a@example.org\nSubject: one\n\nfirst\n", dir);
    procmailDeliver(spool, "From: b@example.org\nSubject: two\nX-UIDL: qpopper-uidl-2\n\nsecond\nFrom the body\n", dir);
    procmailDeliver(spool, "From: c@example.org\nSubject: three\n\nthird\r\nwith CRLF\r\n", dir);
    procmailDeliver(spool, "From: d@example.org\nSubject: four\nStatus: O\nX-Status: F\n\nfourth\n", dir);
    // A client read message 1 and left it on the server: Status: RO is written at QUIT.
    expect(oneSession(["mbox:mbox"], "RETR 1\r\nQUIT\r\n", dir).out).toEndWith("+OK \r\n");
    const before = everything("mbox:mbox", dir, 4);
    expect(before.uidls.length).toBe(4);
    expect(before.uidls[1]).toBe("qpopper-uidl-2");
    const r = convert(["mbox", "Maildir"], dir);
    expect(r.stderr).toContain("4 messages, 4 copied, 0 already there, 4 removed from the spool");
    expect(r.code).toBe(0);
    expect(readFileSync(spool).length).toBe(0);
    const after = everything("./Maildir", dir, 4);
    expect(after.uidls).toEqual(before.uidls);
    expect(after.retr).toBe(before.retr);
    const cur = readdirSync(join(dir, "Maildir", "cur")).sort();
    const fresh = readdirSync(join(dir, "Maildir", "new"));
    // pop3d moved new/ to cur/ (qmail-pop3d does); the flags convert gave stay after ":2,".
    expect(fresh).toEqual([]);
    expect(cur.map((n) => n.slice(n.indexOf(":"))).sort()).toEqual([":2,", ":2,", ":2,F", ":2,S"]);
  });

  test("--keep copies and leaves the spool; a second run finds everything there and only empties the spool", () => {
    const dir = tempDir("convert-keep");
    const spool = join(dir, "mbox");
    writeFileSync(spool, "From x Mon Jan  1 00:00:00 2024\nSubject: a\n\na\n\nFrom y Mon Jan  1 00:00:00 2024\nSubject: b\n\nb\n\n");
    const original = readFileSync(spool);
    expect(convert(["--keep", "mbox", "Maildir"], dir).code).toBe(0);
    expect(readFileSync(spool)).toEqual(original);
    const again = convert(["mbox", "Maildir"], dir);
    expect(again.stderr).toContain("2 messages, 0 copied, 2 already there, 2 removed from the spool");
    expect(readdirSync(join(dir, "Maildir", "new")).length).toBe(2);
  });

  test("killed at random moments, the next run ends with every message exactly once", async () => {
    const dir = tempDir("convert-kill");
    const spool = join(dir, "mbox");
    const count = 800;
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(`From s@example.org Mon Jan  1 00:00:00 2024\nSubject: m${i}\n\n${"body text\n".repeat(40)}\n`);
    writeFileSync(spool, parts.join(""));
    const t0 = performance.now();
    const probe = Bun.spawn([POPPIN, "convert", "mbox", "--keep", "mbox", "Probe"], { cwd: dir, stderr: "ignore" });
    await probe.exited;
    const full = performance.now() - t0;
    for (let round = 0; round < 3; round++) {
      const p = Bun.spawn([POPPIN, "convert", "mbox", "mbox", "Maildir"], { cwd: dir, stderr: "ignore" });
      await Bun.sleep(Math.random() * full);
      p.kill("SIGKILL");
      await p.exited;
    }
    const last = convert(["mbox", "Maildir"], dir);
    expect(last.code).toBe(0);
    expect(readFileSync(spool).length).toBe(0);
    const subjects: string[] = [];
    for (const sub of ["new", "cur"]) {
      for (const name of readdirSync(join(dir, "Maildir", sub))) {
        subjects.push(/^Subject: (.*)$/m.exec(readFileSync(join(dir, "Maildir", sub, name), "latin1"))![1]!);
      }
    }
    expect(subjects.length).toBe(count);
    expect(new Set(subjects).size).toBe(count);
    // pop3d lists them in spool order
    const listing = oneSession(["./Maildir"], "TOP 1 0\r\nTOP 800 0\r\nQUIT\r\n", dir).out;
    expect(listing).toContain("Subject: m0\r\n");
    expect(listing).toContain("Subject: m799\r\n");
    expect(listing.indexOf("Subject: m0\r\n")).toBeLessThan(listing.indexOf("Subject: m799\r\n"));
  });

  test("progress: plain lines when not a terminal, a redrawn bar on a terminal", () => {
    const dir = tempDir("convert-progress");
    const spool = join(dir, "mbox");
    writeFileSync(spool, Array.from({ length: 20 }, (_, i) => `From s Mon Jan  1 00:00:00 2024\nSubject: ${i}\n\nx\n\n`).join(""));
    const plain = convert(["--keep", "mbox", "Plain"], dir);
    const lines = plain.stderr.split("\n").filter((l) => l.includes("messages "));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[lines.length - 1]).toMatch(/^poppin convert: 20\/20 messages [0-9.]+\/[0-9.]+ MB [0-9.]+ MB\/s [0-9:-]+ left$/);
    requireTool("script");
    const tty = run(["script", "-qec", `${POPPIN} convert mbox --keep mbox Tty`, "/dev/null"], { cwd: dir });
    expect(tty.code).toBe(0);
    expect(tty.out).toContain("\r[########################] 20/20 messages");
  });

  test("bad usage", () => {
    const dir = tempDir("convert-usage");
    const r = convert(["onlyone"], dir);
    expect(r.code).toBe(100);
    expect(r.stderr).toStartWith("poppin convert: usage: poppin convert mbox");
    // pop3d's options that convert's usage does not list are refused, not silently ignored.
    for (const option of ["--no-cache", "--no-status-update", "--spool-dir=/var/mail", "--bogus"]) {
      writeFileSync(join(dir, "spool"), "");
      const o = convert([option, join(dir, "spool"), join(dir, "Maildir")], dir);
      expect(o.code).toBe(100);
      expect(o.stderr).toStartWith("poppin convert: usage: poppin convert mbox");
    }
  });
  test("UW IMAP's FOLDER INTERNAL DATA message is not copied (POP3 never lists it) and stays in the spool", () => {
    const dir = tempDir("convert-uw");
    const folderData = "From MAILER-DAEMON Fri Dec  4 10:00:00 2026\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1796394022 0000000002\nStatus: RO\n\nfolder data\n\n";
    writeFileSync(join(dir, "mbox"), `${folderData}From a@example.org Fri Dec  4 10:01:00 2026\nSubject: real\n\nreal body\n\n`, { mode: 0o600 });
    const r = convert(["mbox", "Maildir"], dir);
    expect(r.stderr).toContain("1 messages, 1 copied, 0 already there, 1 removed from the spool");
    expect(r.code).toBe(0);
    const files = ["new", "cur"].flatMap((sub) => readdirSync(join(dir, "Maildir", sub)).map((n) => readFileSync(join(dir, "Maildir", sub, n), "latin1")));
    expect(files).toEqual(["Subject: real\n\nreal body\n"]);
    expect(readFileSync(join(dir, "mbox"), "latin1")).toBe(folderData);
  });
});

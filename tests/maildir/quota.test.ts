/**
 * Maildir++ quotas: pop3d appends "-BYTES -COUNT" to `maildirsize` for what QUIT removed, as
 * Courier's pop3d and Dovecot's (quota=maildir) do, so the usage the delivery agent checks
 * (maildrop, Dovecot's LDA, vpopmail) goes down when the user empties the box. Without it, a
 * user who deleted everything stayed over quota until the file was recomputed. The file is
 * the user's: never created, never written through a link, never waited on (a FIFO).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, lstatSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { connectConversation, makeMaildir } from "../pop3/conversation.ts";
import { MAIL_GID, MAIL_UID, talk, virtualSetup, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "../session/modes.ts";

const MESSAGES = ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond message\n", "Subject: three\n\nthird\n"];
const HEADER = "10000000S,1000C\n";

function session(home: string, input: string) {
  return run([applet("qmail-pop3d"), "Maildir"], { cwd: home, stdin: input, env: { PATH: process.env.PATH }, timeoutMs: 10_000 });
}

/** The usage a Maildir++ reader computes: the sums of every line after the first. */
function usage(file: string): [number, number] {
  const lines = readFileSync(file, "latin1").split("\n").slice(1).filter((l) => l !== "");
  return lines.reduce<[number, number]>((acc, l) => {
    const [b, c] = l.trim().split(/\s+/).map(Number);
    return [acc[0] + b!, acc[1] + c!];
  }, [0, 0]);
}

/** What is really in the Maildir: octets on disk and messages. */
function onDisk(maildir: string): [number, number] {
  const files = ["new", "cur"].flatMap((sub) => readdirSync(join(maildir, sub)).map((n) => join(maildir, sub, n)));
  return [files.reduce((n, f) => n + statSync(f).size, 0), files.length];
}

function quotaMaildir(): { home: string; maildir: string; file: string } {
  const home = tempDir("quota");
  makeMaildir(home, MESSAGES);
  const maildir = join(home, "Maildir");
  const file = join(maildir, "maildirsize");
  const [bytes, count] = onDisk(maildir);
  writeFileSync(file, `${HEADER}${bytes} ${count}\n`);
  return { home, maildir, file };
}

describe("maildirsize", () => {
  test("QUIT appends one line for what it removed; the sums match the Maildir again", () => {
    const { home, maildir, file } = quotaMaildir();
    const r = session(home, "DELE 1\r\nDELE 3\r\nQUIT\r\n");
    expect(r.out).toEndWith("+OK \r\n");
    const removed = Buffer.byteLength(MESSAGES[0]!) + Buffer.byteLength(MESSAGES[2]!);
    expect(readFileSync(file, "latin1")).toEndWith(`\n-${removed} -2\n`);
    expect(usage(file)).toEqual(onDisk(maildir));
  });

  test("a message renamed by another program (a flag change) is counted; nothing removed, nothing written", async () => {
    const { home, maildir, file } = quotaMaildir();
    const before = readFileSync(file, "latin1");
    expect(session(home, "DELE 1\r\nRSET\r\nQUIT\r\n").out).toEndWith("+OK \r\n");
    expect(readFileSync(file, "latin1")).toBe(before);
    // The session has listed the Maildir (moving new/ to cur/); then message 2 is renamed as an IMAP server marks it seen.
    const proc = Bun.spawn([applet("qmail-pop3d"), "Maildir"], { cwd: home, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = proc.stdout.getReader();
    let out = "";
    proc.stdin.write("STAT\r\n");
    await proc.stdin.flush();
    while (!/\+OK 3 \d+\r\n/.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += Buffer.from(value).toString("latin1");
    }
    const cur = join(maildir, "cur");
    const listed = readdirSync(cur).find((n) => n.includes("P4001"))!;
    renameSync(join(cur, listed), join(cur, `${listed}S`));
    proc.stdin.write("DELE 2\r\nQUIT\r\n");
    await proc.stdin.end();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += Buffer.from(value).toString("latin1");
    }
    await proc.exited;
    expect(out).toEndWith("+OK message 2 deleted\r\n+OK \r\n");
    expect(readdirSync(cur).some((n) => n.includes("P4001"))).toBe(false);
    expect(readFileSync(file, "latin1")).toEndWith(`\n-${Buffer.byteLength(MESSAGES[1]!)} -1\n`);
    expect(usage(file)).toEqual(onDisk(maildir));
  });

  test("no maildirsize: none is made; a link or a FIFO there: not written, the session is not held up", () => {
    const plain = tempDir("quota");
    makeMaildir(plain, MESSAGES);
    expect(session(plain, "DELE 1\r\nQUIT\r\n").out).toEndWith("+OK \r\n");
    expect(readdirSync(join(plain, "Maildir")).includes("maildirsize")).toBe(false);

    const linked = quotaMaildir();
    const target = join(linked.home, "elsewhere");
    renameSync(linked.file, target);
    symlinkSync(target, linked.file);
    const before = readFileSync(target, "latin1");
    const r = session(linked.home, "DELE 1\r\nQUIT\r\n");
    expect(r.out).toEndWith("+OK \r\n");
    expect(readFileSync(target, "latin1")).toBe(before);
    expect(r.stderr).toContain("unable to update Maildir/maildirsize: symbolic link loop");

    const fifo = tempDir("quota");
    makeMaildir(fifo, MESSAGES);
    expect(run(["mkfifo", join(fifo, "Maildir", "maildirsize")]).code).toBe(0);
    const started = Date.now();
    expect(session(fifo, "DELE 1\r\nQUIT\r\n").out).toEndWith("+OK \r\n");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lstatSync(join(fifo, "Maildir", "maildirsize")).isFIFO()).toBe(true);
  });
});

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe.each(MODES)("%s (virtual users)", (mode) => {
  test("DELE + QUIT updates maildirsize; a session that breaks off does not", async () => {
    const setup = virtualSetup(MESSAGES);
    const file = join(setup.maildir, "maildirsize");
    const [bytes, count] = onDisk(setup.maildir);
    writeFileSync(file, `${HEADER}${bytes} ${count}\n`);
    chownSync(file, MAIL_UID, MAIL_GID);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const broken = await connectConversation(server.port);
    broken.talk.send("USER joe\r\nPASS secret\r\nDELE 2\r\n");
    await broken.talk.waitFor("+OK message 2 deleted\r\n");
    broken.socket.destroy();
    await Bun.sleep(500);
    expect(usage(file)).toEqual([bytes, count]);
    const out = (await talk(server.port, "USER joe\r\nPASS secret\r\nDELE 2\r\nQUIT\r\n")).toString("latin1");
    expect(out).toEndWith("+OK \r\n");
    expect(readFileSync(file, "latin1")).toEndWith(`\n-${Buffer.byteLength(MESSAGES[1]!)} -1\n`);
    expect(usage(file)).toEqual(onDisk(setup.maildir));
  });
});

/**
 * A hostile Maildir owner replaces listed messages after LIST, before RETR/TOP: a FIFO (with a
 * writer that filled it, with one that wrote exactly the listed size, with none), a directory,
 * a file grown or truncated. RETR reads without an fstat when the first read gives the listed
 * size, so this is where a FIFO could pass for a message: none may be served (-ERR, its bytes
 * never sent), no session hangs, a grown or truncated regular file is sent as it is now, and
 * serve --inline (the shared process) keeps no descriptor after many such RETRs.
 */
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, chmodSync, chownSync, closeSync, constants, mkdirSync, openSync, readdirSync, renameSync, symlinkSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { POPPIN, applet, run, tempDir } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "../standalone/harness.ts";

const FIFO_BYTES = "FIFO-BYTES-MUST-NOT-BE-SENT";
const writers: number[] = [];
const servers: Running[] = [];

afterAll(async () => {
  for (const fd of writers) closeSync(fd);
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

/** The messages: 1 stays, 2..4 become FIFOs, 5 a directory, 6 grows, 7 shrinks. */
const NAMES = [
  "1700000001.M1P1.host,S=24:2,",
  "1700000002.M2P1.host,S=5:2,", // a FIFO whose writer filled the pipe
  "1700000003.M3P1.host,S=27:2,", // a FIFO whose writer wrote exactly the listed size
  "1700000004.M4P1.host:2,", // a FIFO with no writer, listed as 0 octets
  "1700000005.M5P1.host,S=5:2,", // a directory
  "1700000006.M6P1.host,S=12:2,", // grows
  "1700000007.M7P1.host,S=12:2,", // shrinks
  "1700000008.M8P1.host,S=5:2,", // a symlink to a file of the owner's outside the Maildir
  "1700000009.M9P1.host,S=5:2,", // a unix socket
];

function populate(maildir: string): void {
  const cur = join(maildir, "cur");
  writeFileSync(join(cur, NAMES[0]!), "Subject: a\n\nstays here\n");
  writeFileSync(join(cur, NAMES[1]!), "x\n\ny\n");
  writeFileSync(join(cur, NAMES[2]!), "Subject: c\n\nlisted text\n");
  writeFileSync(join(cur, NAMES[3]!), "");
  writeFileSync(join(cur, NAMES[4]!), "x\n\ny\n");
  writeFileSync(join(cur, NAMES[5]!), "Subject: f\n\n");
  writeFileSync(join(cur, NAMES[6]!), "Subject: g\n\n");
  writeFileSync(join(cur, NAMES[7]!), "x\n\ny\n");
  writeFileSync(join(cur, NAMES[8]!), "x\n\ny\n");
}

/** What the owner does between LIST and RETR. */
function swap(maildir: string, uid: number, gid: number): void {
  const cur = join(maildir, "cur");
  const tmp = join(maildir, "tmp");
  const fifo = (name: string, content: string | undefined) => {
    const path = join(tmp, `fifo-${name}`);
    expect(run(["mkfifo", "-m", "0644", path]).code).toBe(0);
    chownSync(path, uid, gid);
    if (content !== undefined) {
      const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
      writers.push(fd);
      writeSync(fd, content);
    }
    renameSync(path, join(cur, name));
  };
  fifo(NAMES[1]!, `${FIFO_BYTES}\n`.repeat(2000));
  fifo(NAMES[2]!, FIFO_BYTES);
  fifo(NAMES[3]!, undefined);
  const dir = join(cur, NAMES[4]!);
  run(["rm", "-f", dir]);
  mkdirSync(dir);
  chownSync(dir, uid, gid);
  writeFileSync(join(cur, NAMES[5]!), "Subject: f\n\ngrown after the listing\n");
  truncateSync(join(cur, NAMES[6]!), 5);
  const secret = join(maildir, "..", "secret");
  writeFileSync(secret, `${FIFO_BYTES}\n`);
  const link = join(tmp, "link");
  symlinkSync(secret, link);
  renameSync(link, join(cur, NAMES[7]!));
  const socket = join(tmp, "socket");
  expect(run(["python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", socket]).code).toBe(0);
  chownSync(socket, uid, gid);
  renameSync(socket, join(cur, NAMES[8]!));
}

const AFTER = "RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\nRETR 5\r\nTOP 2 0\r\nTOP 3 1\r\nTOP 4 0\r\nTOP 5 0\r\nRETR 6\r\nRETR 7\r\nRETR 8\r\nTOP 8 0\r\nRETR 9\r\nTOP 9 0\r\nQUIT\r\n";

function checkAnswers(after: string): void {
  expect(after).not.toContain("FIFO-BYTES");
  const lines = after.split("\r\n");
  // RETR 1, then 8 refusals (RETR 2..5, TOP 2..5), RETR 6 and 7, 4 refusals (8 and 9), QUIT.
  expect(lines[0]).toBe("+OK 26 octets");
  expect(lines.filter((l) => l.startsWith("-ERR")).length).toBe(12);
  expect(after).toEndWith(`Subje\r\n.\r\n${"-ERR unable to open that message\r\n".repeat(4)}+OK \r\n`);
  expect(after).toContain("+OK 14 octets\r\nSubject: f\r\n\r\ngrown after the listing\r\n.\r\n");
  expect(after).toContain("+OK 14 octets\r\nSubje\r\n.\r\n");
  expect(after).toEndWith("+OK \r\n");
}

/** A conversation over any byte stream: send, then wait until what came in matches. */
class Conversation {
  received = "";
  #wake: (() => void) | undefined;
  constructor(readonly send: (s: string) => void) {}
  take(chunk: Uint8Array): void {
    this.received += Buffer.from(chunk).toString("latin1");
    this.#wake?.();
  }
  async until(pattern: RegExp, timeoutMs = 8000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.received)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(this.received.slice(-300))}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }
}

test("pop3d: FIFOs, a directory, a grown and a truncated file swapped in after LIST", async () => {
  const home = tempDir("swap");
  const maildir = join(home, "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(maildir, sub), { recursive: true });
  populate(maildir);
  const proc = Bun.spawn([applet("qmail-pop3d"), "Maildir"], { cwd: home, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const talk = new Conversation((s) => {
    proc.stdin.write(s);
    proc.stdin.flush();
  });
  const reading = (async () => {
    for await (const chunk of proc.stdout) talk.take(chunk);
  })();
  talk.send("LIST\r\n");
  await talk.until(/\r\n\.\r\n$/);
  expect(talk.received).toContain("\r\n4 0\r\n");
  swap(maildir, 0, 0);
  const mark = talk.received.length;
  talk.send(AFTER);
  await Promise.race([proc.exited, Bun.sleep(8000)]);
  expect(proc.exitCode).toBe(0);
  await reading;
  checkAnswers(talk.received.slice(mark));
  expect(await new Response(proc.stderr).text()).toContain("EFTYPE");
});

test("serve --inline: the same swaps, repeated, leave no descriptor behind in the shared process", async () => {
  const setup = virtualSetup([]);
  const server = await startServer([POPPIN, "serve", "--inline", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0",
    POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"], { POPPIN_USERDB: setup.userdb });
  servers.push(server);
  const fds = () => readdirSync(`/proc/${server.proc.pid}/fd`).length;
  let before = 0;
  for (let round = 0; round < 6; round++) {
    for (const name of readdirSync(join(setup.maildir, "cur"))) run(["rm", "-rf", join(setup.maildir, "cur", name)]);
    populate(setup.maildir);
    for (const name of readdirSync(join(setup.maildir, "cur"))) chownSync(join(setup.maildir, "cur", name), MAIL_UID, MAIL_GID);
    chmodSync(join(setup.maildir, "cur"), 0o755);
    const sock = net.connect(server.port, "127.0.0.1");
    const talk = new Conversation((s) => sock.write(s));
    sock.on("data", (c: Buffer) => talk.take(c));
    const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
    talk.send("USER joe\r\nPASS secret\r\nLIST\r\n");
    await talk.until(/\r\n\.\r\n$/);
    if (round === 0) before = fds();
    swap(setup.maildir, MAIL_UID, MAIL_GID);
    const mark = talk.received.length;
    talk.send(AFTER);
    await Promise.race([closed, Bun.sleep(8000)]);
    sock.destroy();
    checkAnswers(talk.received.slice(mark));
  }
  await Bun.sleep(100);
  expect(fds()).toBeLessThanOrEqual(before);
});

test("pop3d: a message the owner keeps appending to while RETR sends it ends at the size it had when RETR began", async () => {
  const home = tempDir("grow");
  const maildir = join(home, "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(maildir, sub), { recursive: true });
  const file = join(maildir, "cur", "1700000001.M1P1.host,S=10,W=12:2,"); // listed (without a stat) shorter than it is
  const line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno\n";
  writeFileSync(file, `Subject: big\n\n${line.repeat(4000)}`); // 400 KB: more than a pipe and a read chunk hold
  // pop3d writes into a pipe nobody reads for a second: it blocks mid-message, then the owner appends.
  const script = `printf 'RETR 1\\r\\nQUIT\\r\\n' | "$0" Maildir | { sleep 1; cat; }`;
  const proc = Bun.spawn(["sh", "-c", script, applet("qmail-pop3d")], { cwd: home, stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  await Bun.sleep(500);
  appendFileSync(file, "APPENDED-AFTER-RETR-BEGAN\n".repeat(200_000)); // 5 MB
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  expect(out).not.toContain("APPENDED");
  expect(out).toEndWith(`${line.slice(0, -1)}\r\n.\r\n+OK \r\n`);
}, 20_000);

test("pop3d: sizes in a name that are absurd, or wrong either way, list as named and send the file as it is; a 0-octet message too", () => {
  const home = tempDir("sizes");
  const cur = join(home, "Maildir", "cur");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(home, "Maildir", sub), { recursive: true });
  writeFileSync(join(cur, "1700000001.M1P1.host,S=99999999999999,W=99999999999999:2,"), "Subject: a\n\nhuge\n");
  writeFileSync(join(cur, "1700000002.M2P1.host,S=999999999999999999999999,W=3:2,"), "Subject: b\n\nhuger\n");
  writeFileSync(join(cur, "1700000003.M3P1.host,S=2,W=2:2,"), "Subject: c\n\nlonger than named\n");
  writeFileSync(join(cur, "1700000004.M4P1.host:2,"), "");
  const r = run([applet("qmail-pop3d"), "Maildir"], { cwd: home, stdin: "LIST\r\nRETR 1\r\nRETR 2\r\nTOP 3 0\r\nRETR 3\r\nRETR 4\r\nTOP 4 1\r\nQUIT\r\n", timeoutMs: 10_000 });
  expect(r.code).toBe(0);
  expect(r.out).toBe(
    "+OK \r\n+OK \r\n1 99999999999999\r\n2 3\r\n3 2\r\n4 0\r\n.\r\n" +
      "+OK 99999999999999 octets\r\nSubject: a\r\n\r\nhuge\r\n.\r\n" +
      "+OK 3 octets\r\nSubject: b\r\n\r\nhuger\r\n.\r\n" +
      "+OK 2 octets\r\nSubject: c\r\n\r\n.\r\n" +
      "+OK 2 octets\r\nSubject: c\r\n\r\nlonger than named\r\n.\r\n" +
      "+OK 0 octets\r\n.\r\n+OK 0 octets\r\n.\r\n+OK \r\n",
  );
});

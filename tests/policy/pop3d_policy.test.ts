/**
 * pop3d's policies (what popup exports to the chain as POPPIN_* variables): auto-delete,
 * EXPIRE 0, update-on-abort, LOGIN-DELAY enforcement, statistics and log-login lines,
 * and the [IN-USE] session lock against qmail's lock-free mode.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { makeMaildir, spawnConversation } from "../pop3/conversation.ts";

const MESSAGES = ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"];

function box() {
  const home = tempDir("pop3d-policy");
  makeMaildir(home, MESSAGES);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", USER: "joe", TCPREMOTEIP: "192.0.2.7", TCPREMOTEHOST: "client.example", TCPLOCALIP: "192.0.2.1" };
  const count = () => ["new", "cur"].reduce((n, s) => n + readdirSync(join(home, "Maildir", s)).length, 0);
  const session = (input: string, extra: Record<string, string> = {}) => run([applet("qmail-pop3d"), "Maildir"], { stdin: input, cwd: home, env: { ...env, ...extra } });
  return { home, env, count, session };
}

describe("deletion policies", () => {
  test("auto-delete and EXPIRE 0: RETR marks the message deleted, removed at QUIT; otherwise kept", () => {
    for (const [extra, left] of [[{}, 2], [{ POPPIN_AUTO_DELETE: "1" }, 1], [{ POPPIN_ANNOUNCE_EXPIRE: "0" }, 1]] as const) {
      const b = box();
      const r = b.session("RETR 1\r\nLIST\r\nQUIT\r\n", extra);
      expect(r.code).toBe(0);
      expect(b.count()).toBe(left);
      if (left === 1) expect(r.out).toMatch(/\r\n\.\r\n\+OK \r\n2 \d+\r\n\.\r\n/); // LIST no longer shows message 1
    }
  });

  test("update-on-abort: marked messages go even when the client vanishes without QUIT (off by default, RFC 1939)", () => {
    const plain = box();
    plain.session("DELE 1\r\n");
    expect(plain.count()).toBe(2);
    const abort = box();
    abort.session("DELE 1\r\n", { POPPIN_UPDATE_ON_ABORT: "1" });
    expect(abort.count()).toBe(1);
  });
});

describe("LOGIN-DELAY", () => {
  test("announced in CAPA and enforced: a second login within the delay gets -ERR [LOGIN-DELAY]", () => {
    const b = box();
    const env = { POPPIN_ANNOUNCE_LOGIN_DELAY: "600" };
    const first = b.session("CAPA\r\nQUIT\r\n", env);
    expect(first.out).toContain("\r\nLOGIN-DELAY 600\r\n");
    const second = b.session("STAT\r\nQUIT\r\n", env);
    expect(second.out).toMatch(/^-ERR \[LOGIN-DELAY\] wait (59\d|600) more seconds before logging in again\r\n$/);
    expect(second.stderr).toMatch(/qmail-pop3d: warning: login delay wait=\d+ user=joe rip=192\.0\.2\.7/);
    expect(b.session("STAT\r\nQUIT\r\n").out).toMatch(/^\+OK \r\n\+OK 2 /); // no delay configured: no refusal
  });
});

describe("log lines", () => {
  test("statistics: Qpopper's Stats line (user, deleted n/octets, left n/octets, host, IP)", () => {
    const b = box();
    const r = b.session("DELE 1\r\nQUIT\r\n", { POPPIN_STATISTICS: "1" });
    const size1 = MESSAGES[0]!.replace(/\n/g, "\r\n").length;
    const size2 = MESSAGES[1]!.replace(/\n/g, "\r\n").length;
    expect(r.stderr).toContain(`qmail-pop3d: info: Stats: joe 1 ${size1} 1 ${size2} client.example 192.0.2.7\n`);
    expect(b.session("QUIT\r\n").stderr).not.toContain("Stats:");
  });

  test("log-login: %0 user, %1 host, %2 IP, %3 server IP, %% a percent sign; hostile values escaped", () => {
    const b = box();
    const r = b.session("QUIT\r\n", { POPPIN_LOG_LOGIN: "login %0 from %1 [%2] to %3 100%%", USER: "jo e" });
    expect(r.stderr).toContain("qmail-pop3d: info: login jo%20e from client.example [192.0.2.7] to 192.0.2.1 100% user=jo%20e rip=192.0.2.7\n");
  });
});

describe("[IN-USE]", () => {
  test("a second session on the same Maildir is refused while the first runs (default); mailbox-lock=none lets it in", async () => {
    const b = box();
    const first = spawnConversation([applet("qmail-pop3d"), "Maildir"], { cwd: b.home, env: b.env });
    await first.talk.waitFor("+OK \r\n");
    const second = b.session("STAT\r\nQUIT\r\n");
    expect(second.out).toBe("-ERR [IN-USE] mailbox in use by another session, try again later\r\n");
    expect(second.stderr).toContain("qmail-pop3d: warning: mailbox in use user=joe rip=192.0.2.7");
    const lockFree = b.session("STAT\r\nQUIT\r\n", { POPPIN_MAILBOX_LOCK: "none" });
    expect(lockFree.out).toMatch(/^\+OK \r\n\+OK 2 /);
    first.talk.send("DELE 1\r\nQUIT\r\n");
    await first.talk.waitEnd();
    await first.proc.exited;
    expect(b.session("STAT\r\nQUIT\r\n").out).toMatch(/^\+OK \r\n\+OK 1 /);
  });
});

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { POPPIN, applet, run, tempDir } from "../helpers.ts";
import { makeMaildir, spawnConversation } from "./conversation.ts";

const FAKE = join(import.meta.dir, "fake_checkpassword.py");

function chain(home: string, extraEnv: Record<string, string> = {}) {
  const log = join(home, "fd3.log");
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", FAKE_HOME: home, FAKE_LOG: log, TCPREMOTEIP: "192.0.2.7", POPPIN_AUTH_FAILURE_DELAY: "0.1", ...extraEnv };
  const cmd = [applet("qmail-popup"), "mail.example", FAKE, applet("qmail-pop3d"), "Maildir"];
  const fd3 = () => readFileSync(log, "utf8").trim().split("\n").map((h) => Buffer.from(h, "hex").toString("latin1"));
  return { env, cmd, fd3 };
}

describe("qmail-popup as a process", () => {
  test("usage as qmail-popup's: -ERR on stdout, exit 1 (2 as poppin popup)", () => {
    for (const args of [[], ["host"]]) {
      const r = run([applet("qmail-popup"), ...args]);
      expect(r.code).toBe(1);
      expect(r.out).toBe("-ERR usage: popup hostname subprogram\r\n");
      expect(r.stderr).toContain("qmail-popup: usage:");
    }
    const p = run([POPPIN, "popup"]);
    expect(p.code).toBe(100);
    expect(p.stderr).toContain("poppin popup: usage:");
  });

  test("greeting: the APOP timestamp only when APOP can succeed", () => {
    const home = tempDir("popup");
    const { env, cmd } = chain(home);
    const greet = (extra: Record<string, string>) => run(cmd, { stdin: "QUIT\r\n", env: { ...env, ...extra } }).out.split("\r\n")[0];
    expect(greet({})).toBe("+OK ");
    expect(greet({ POPPIN_APOP: "1" })).toMatch(/^\+OK <\d+\.\d+@mail\.example>$/);
    expect(greet({ POPPIN_APOP_SECRETS: "/etc/poppin/apop" })).toMatch(/^\+OK <\d+\.\d+@mail\.example>$/);
    expect(greet({ POPPIN_APOP_SECRETS: "/etc/poppin/apop", POPPIN_APOP: "0" })).toBe("+OK ");
  });

  test("login runs the chain with qmail-popup's fd-3 data; commands pipelined after PASS reach pop3d", () => {
    const home = tempDir("popup");
    makeMaildir(home, ["Subject: x\n\nhi\n"]);
    const { env, cmd, fd3 } = chain(home, { POPPIN_APOP: "1" });
    const r = run(cmd, { stdin: "USER joe\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n", env });
    expect(r.code).toBe(0);
    const stamp = r.out.match(/^\+OK (<[^>]+>)\r\n/)![1]!;
    expect(r.out).toBe(`+OK ${stamp}\r\n+OK \r\n+OK \r\n+OK 1 18\r\n+OK 18 octets\r\nSubject: x\r\n\r\nhi\r\n.\r\n+OK \r\n`);
    expect(fd3()).toEqual([`joe\0secret\0${stamp}\0`]);
  });

  test("APOP: the digest goes on fd 3 in the password field, with the greeting's timestamp", () => {
    const home = tempDir("popup");
    makeMaildir(home, []);
    const { env, cmd, fd3 } = chain(home, { POPPIN_APOP: "1" });
    const { talk, proc } = spawnConversation(cmd, { env });
    return (async () => {
      const greeting = await talk.waitFor(/\r\n/);
      const stamp = greeting.match(/<[^>]+>/)![0];
      const digest = createHash("md5").update(stamp + "apopsecret").digest("hex");
      talk.send(`APOP joe ${digest}\r\nSTAT\r\nQUIT\r\n`);
      expect(await talk.waitEnd()).toBe(`+OK ${stamp}\r\n+OK \r\n+OK 0 0\r\n+OK \r\n`);
      expect(await proc.exited).toBe(0);
      expect(fd3()).toEqual([`joe\0${digest}\0${stamp}\0`]);
    })();
  });

  test("a failed login: [AUTH], one greppable stderr line without the password; the client may try again", () => {
    const home = tempDir("popup");
    makeMaildir(home, []);
    const { env, cmd } = chain(home);
    const r = run(cmd, { stdin: "USER joe\r\nPASS hunter2\r\nPASS secret\r\nQUIT\r\n", env });
    expect(r.out).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n+OK \r\n");
    const lines = r.stderr.split("\n").filter((l) => l.includes("authorization"));
    expect(lines).toEqual(["qmail-popup: warning: authorization failed rip=192.0.2.7 user=joe mech=USER"]);
    expect(r.stderr).not.toContain("hunter2");
    expect(r.code).toBe(0);
  });

  test("temporary trouble, a crashed checkpassword, a missing one: [SYS/TEMP]; a crash ends the connection", () => {
    const home = tempDir("popup");
    const { env, cmd } = chain(home);
    // After a crash nothing more is answered: the program may have been pop3d killed mid-session,
    // and a +OK to the client's QUIT would claim deletions that never happened.
    const r = run(cmd, { stdin: "USER temp\r\nPASS x\r\nUSER crash\r\nPASS x\r\nQUIT\r\n", env });
    expect(r.out).toBe(
      "+OK \r\n+OK \r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n+OK \r\n-ERR [SYS/TEMP] aack, child crashed\r\n",
    );
    expect(r.stderr).toContain("authorization temporary failure rip=192.0.2.7 user=temp");
    const missing = run([applet("qmail-popup"), "h", join(home, "no-such-program")], { stdin: "USER a\r\nPASS b\r\nQUIT\r\n", env });
    expect(missing.out).toBe("+OK \r\n+OK \r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n+OK \r\n");
    // Named checkpassword but not there (a typo in the run script): popup must not stand in for
    // it with its own one-process login; the chain's exec fails, as it would for any program.
    const typo = join(home, "bin", "checkpassword");
    const named = run([applet("qmail-popup"), "h", typo, applet("qmail-pop3d"), "Maildir"], { stdin: "USER a\r\nPASS b\r\nQUIT\r\n", env });
    expect(named.out).toBe("+OK \r\n+OK \r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n+OK \r\n");
    expect(named.stderr).toContain(`why=unable%20to%20run%20${typo}:%20file%20does%20not%20exist`);
  });

  test("a user name with control octets is logged escaped, on one line", () => {
    const home = tempDir("popup");
    const { env, cmd } = chain(home);
    const r = run(cmd, { stdin: "USER evil\rname x=1\r\nPASS x\r\n", env });
    expect(r.stderr).toContain("user=evil%0Dname%20x=1 mech=USER\n");
  });

  test("POPPIN_TIMEOUT: an idle client is dropped", async () => {
    const home = tempDir("popup");
    const { env, cmd } = chain(home, { POPPIN_TIMEOUT: "1" });
    const { talk, proc } = spawnConversation(cmd, { env });
    await talk.waitFor("+OK \r\n");
    talk.send("USER joe\r\n");
    expect(await Promise.race([proc.exited, Bun.sleep(8000).then(() => "hung")])).toBe(0);
    expect(talk.text).toBe("+OK \r\n+OK \r\n");
  });
});

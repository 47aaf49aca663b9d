/**
 * One command, one answer: every way a login can fail gets exactly one answer to PASS,
 * in every mode, so a client's replies never fall out of step with its commands (a second
 * -ERR after pop3d's own would answer the client's next command). Wrong password, policy
 * refusal (auth-file), missing Maildir, Maildir in use, mbox spool locked, LOGIN-DELAY;
 * a crashing checkpassword (a foreign program: the classic chain only, as --inline runs
 * only poppin's own).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, tempDir } from "../helpers.ts";
import { connectConversation, type Conversation } from "../pop3/conversation.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "./modes.ts";

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

const ANSWER = /^(\+OK|-ERR)/;
const answers = (talk: Conversation) => talk.text.split("\r\n").filter((l) => ANSWER.test(l));

/**
 * Logs in (USER, PASS); waits for PASS's answer and a while longer for a second one; returns
 * every answer line and whether the server then closed or still answers QUIT with one +OK.
 */
async function login(port: number, password = "secret", settleMs = 400): Promise<{ lines: string[]; after: string[] }> {
  const { talk, socket } = await connectConversation(port);
  try {
    await talk.waitFor(ANSWER);
    talk.send(`USER joe\r\nPASS ${password}\r\n`);
    await talk.waitFor(/^(\+OK|-ERR)[^\n]*\n/gm, 15_000, 3);
    await Bun.sleep(settleMs);
    const lines = answers(talk);
    talk.send("QUIT\r\n");
    await talk.waitEnd(10_000).catch(() => "");
    return { lines, after: answers(talk).slice(lines.length) };
  } finally {
    socket.destroy();
  }
}

describe.each(MODES)("%s", (mode) => {
  test("wrong password, and a user the auth-file does not list: one -ERR [AUTH], then QUIT's +OK", async () => {
    const setup = virtualSetup(["Subject: a\n\nb\n"]);
    const allowed = join(setup.root, "allowed");
    writeFileSync(allowed, "someone-else\n");
    const plain = await startMode(mode, { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0" });
    const listed = await startMode(mode, { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0" }, [`--auth-file=${allowed}`]);
    servers.push(plain, listed);
    for (const [port, password] of [[plain.port, "wrong"], [listed.port, "secret"]] as const) {
      const r = await login(port, password);
      expect(r.lines).toEqual(["+OK ", "+OK ", "-ERR [AUTH] authorization failed"]);
      expect(r.after).toEqual(["+OK "]);
    }
  });

  test("missing Maildir, Maildir in use, LOGIN-DELAY: pop3d's one -ERR, and the session ends", async () => {
    const setup = virtualSetup(["Subject: a\n\nb\n"]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb }, ["--announce-login-delay=600"]);
    servers.push(server);
    // The first login is served and holds the session lock; a second meanwhile is [IN-USE].
    const { talk, socket } = await connectConversation(server.port);
    await talk.waitFor(ANSWER);
    talk.send("USER joe\r\nPASS secret\r\nSTAT\r\n");
    await talk.waitFor(/\+OK 1 /);
    const busy = await login(server.port);
    expect(busy.lines).toEqual(["+OK ", "+OK ", "-ERR [IN-USE] mailbox in use by another session, try again later"]);
    expect(busy.after).toEqual([]);
    talk.send("QUIT\r\n");
    await talk.waitEnd();
    socket.destroy();
    const delayed = await login(server.port);
    expect(delayed.lines.length).toBe(3);
    expect(delayed.lines[2]).toMatch(/^-ERR \[LOGIN-DELAY\] wait \d+ more seconds/);
    expect(delayed.after).toEqual([]);
    renameSync(setup.maildir, `${setup.maildir}.away`);
    const missing = await login(server.port);
    expect(missing.lines).toEqual(["+OK ", "+OK ", "-ERR this user has no $HOME/Maildir"]);
    expect(missing.after).toEqual([]);
  });
});

describe.each(["classic", "processes"] as const)("%s", (mode) => {
  test("an mbox spool locked by a delivery: one -ERR [IN-USE]", async () => {
    const setup = virtualSetup([]);
    const spool = join(setup.home, "mbox");
    writeFileSync(spool, "From a@example.org Thu Dec  3 05:00:00 2026\nSubject: m\n\nbody\n\n");
    chownSync(spool, MAIL_UID, MAIL_GID);
    const holder = Bun.spawn(["flock", "-x", spool, "sleep", "30"]);
    try {
      await Bun.sleep(200);
      const server = await startMode(mode, { POPPIN_USERDB: setup.userdb }, [], ["--lock=flock", "--lock-timeout=1", "mbox:~/mbox"]);
      servers.push(server);
      const r = await login(server.port, "secret", 600);
      expect(r.lines).toEqual(["+OK ", "+OK ", "-ERR [IN-USE] mailbox in use by another session, try again later"]);
      expect(r.after).toEqual([]);
    } finally {
      holder.kill();
    }
  });

  test("a checkpassword that crashes: one -ERR", async () => {
    const dir = tempDir("crash");
    chmodSync(dir, 0o755);
    const crash = join(dir, "checkpassword");
    writeFileSync(crash, "#!/bin/sh\nkill -SEGV $$\n");
    chmodSync(crash, 0o755);
    const server = await startServer([POPPIN, "serve", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0",
      POPPIN, "popup", "mail.example", crash, POPPIN, "pop3d", "Maildir"], mode === "processes" ? { POPPIN_ONE_PROCESS: "0" } : {});
    servers.push(server);
    const r = await login(server.port);
    expect(r.lines.length).toBe(3);
    expect(r.lines[2]).toStartWith("-ERR ");
    expect(r.after).toEqual([]);
  });
});

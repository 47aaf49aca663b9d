/**
 * Another program (an IMAP server, a mail client on the same Maildir) renames a message
 * during a POP3 session to change its flags: cur/X:2, becomes cur/X:2,S. The session finds
 * it by its unique part X: RETR sends it, and DELE + QUIT really removes it (no `deleted=1`
 * for a message left behind). In every mode.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { connectConversation } from "../pop3/conversation.ts";
import { virtualSetup, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "./modes.ts";

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

const BODY = "Subject: flagged elsewhere\n\nstill here\n";

describe.each(MODES)("%s", (mode) => {
  test("RETR, DELE and QUIT follow a message renamed for a flag change; the log counts what was removed", async () => {
    const setup = virtualSetup([BODY, "Subject: other\n\nx\n"]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const { talk, socket } = await connectConversation(server.port);
    try {
      await talk.waitFor("+OK");
      talk.send("USER joe\r\nPASS secret\r\nSTAT\r\n");
      await talk.waitFor(/\+OK 2 \d+\r\n/);
      const cur = join(setup.maildir, "cur");
      const name = readdirSync(cur).find((n) => n.startsWith("1700000000."))!;
      expect(name.endsWith(":2,")).toBe(true);
      renameSync(join(cur, name), join(cur, `${name}S`)); // seen, as an IMAP server marks it
      talk.send("RETR 1\r\nDELE 1\r\nQUIT\r\n");
      const out = await talk.waitEnd();
      expect(out).toContain("still here\r\n.\r\n");
      expect(out).toEndWith("+OK message 1 deleted\r\n+OK \r\n");
      expect(readdirSync(cur).filter((n) => n.startsWith("1700000000."))).toEqual([]);
      expect(readdirSync(cur).length).toBe(1);
    } finally {
      socket.destroy();
    }
    await Bun.sleep(100);
    expect(server.log()).toMatch(/pop3d: info: end=quit user=joe rip=127\.0\.0\.1 messages=2 retrieved=1 octets=\d+ deleted=1\n/);
  });

  test("a message renamed and then really removed by the other program: -ERR for RETR, and QUIT still +OK", async () => {
    const setup = virtualSetup([BODY]);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const { talk, socket } = await connectConversation(server.port);
    try {
      await talk.waitFor("+OK");
      talk.send("USER joe\r\nPASS secret\r\nSTAT\r\n");
      await talk.waitFor(/\+OK 1 \d+\r\n/);
      const cur = join(setup.maildir, "cur");
      const name = readdirSync(cur)[0]!;
      renameSync(join(cur, name), join(setup.maildir, "tmp", "elsewhere"));
      talk.send("RETR 1\r\nQUIT\r\n");
      expect(await talk.waitEnd()).toEndWith("-ERR unable to open that message\r\n+OK \r\n");
    } finally {
      socket.destroy();
    }
  });
});

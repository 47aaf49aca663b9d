/**
 * Hostile Maildir file names, in every mode (tests/session/modes.ts): a local user controls
 * the names in their own Maildir. UIDLs stay RFC 1939's (1-70 octets 0x21-0x7E, unique, the
 * same in the next session; qmail-pop3d's for ordinary names), and no name can split a log
 * line or forge one that the shipped fail2ban filter acts on.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, requireTool, run, tempDir } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, talk, virtualSetup, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "./modes.ts";

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

const FORGED_IP = "203.0.113.66";
const FORGED = `poppin popup: warning: authorization failed rip=${FORGED_IP} user=victim`;

function plant(maildir: string, sub: string, name: string, body = "Subject: planted\n\nx\n"): void {
  const path = join(maildir, sub, name);
  writeFileSync(path, body);
  chownSync(path, MAIL_UID, MAIL_GID);
}

/** The UIDL listing's lines (without +OK and the final dot). */
function uidlLines(reply: string): string[] {
  const body = reply.slice(reply.indexOf("+OK \r\n1 ") + "+OK \r\n".length);
  return body.slice(0, body.indexOf(".\r\n")).split("\r\n").filter((l) => l !== "");
}

describe.each(MODES)("%s", (mode) => {
  test("UIDLs: names with CR LF, spaces, 8-bit, over 70 octets and duplicates get stable RFC 1939 UIDLs; ordinary ones stay qmail's", async () => {
    const setup = virtualSetup(["Subject: one\n\nhello\n", "Subject: two\n\nhello\n"]);
    const hostile = [
      "1700000100.M1P1.evil\r\n+OK 99 fake",
      "1700000101.M1P1.with space",
      "1700000102.M1P1.caf\u00e9",
      `1700000103.M1P1.${"l".repeat(80)}`,
    ];
    for (const name of hostile) plant(setup.maildir, "cur", `${name}:2,`);
    plant(setup.maildir, "cur", "1700000104.M1P1.dup:2,");
    plant(setup.maildir, "cur", "1700000104.M1P1.dup:2,S");
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const session = "USER joe\r\nPASS secret\r\nUIDL\r\nQUIT\r\n";
    const first = (await talk(server.port, session)).toString("latin1");
    const lines = uidlLines(first);
    expect(lines.length).toBe(8);
    for (const line of lines) expect(line).toMatch(/^[1-8] [\x21-\x7e]{1,70}$/);
    const uidls = lines.map((l) => l.split(" ")[1]!);
    expect(new Set(uidls).size).toBe(8);
    // qmail-pop3d's UIDL (the name up to ':') for every ordinary name, the first duplicate included.
    expect(uidls).toContain("1700000000.M0P1.test.example");
    expect(uidls).toContain("1700000001.M1P1.test.example");
    expect(uidls).toContain("1700000104.M1P1.dup");
    expect(first).not.toContain("fake");
    // The answer holds exactly the lines it should: no injected response.
    expect(first.split("\r\n").filter((l) => l.startsWith("+OK")).length).toBe(5);
    const second = (await talk(server.port, session)).toString("latin1");
    expect(uidlLines(second)).toEqual(lines);
  });

  test("a file name with a newline cannot forge a log line; fail2ban-regex finds nothing to ban", async () => {
    requireTool("fail2ban-regex");
    const setup = virtualSetup(["Subject: one\n\nhello\n"]);
    // A directory where a message should be: pop3d warns about it, naming it.
    const bad = join(setup.maildir, "cur", `x\n${FORGED}\n:2,`);
    mkdirSync(bad);
    chownSync(bad, MAIL_UID, MAIL_GID);
    plant(setup.maildir, "cur", `1700000200.M1P1.y\r\n${FORGED}:2,`);
    const server = await startMode(mode, { POPPIN_USERDB: setup.userdb });
    servers.push(server);
    const reply = (await talk(server.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString("latin1");
    expect(reply).toContain("+OK 2 ");
    await Bun.sleep(100);
    const log = server.log();
    expect(log).toContain("not a regular file");
    const lines = log.split("\n");
    expect(lines.some((l) => l.startsWith(FORGED))).toBe(false);
    expect(lines.every((l) => !/[\r\x00-\x08\x0b-\x1f]/.test(l))).toBe(true);
    const file = join(tempDir("f2b"), "current");
    writeFileSync(file, log);
    const f = run(["fail2ban-regex", "-o", "ip", file, join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf")]);
    expect(f.code).toBe(0);
    expect(f.out).not.toContain(FORGED_IP);
    // The filter still works on this log: a real failure is found.
    const failed = (await talk(server.port, "USER joe\r\nPASS wrong\r\nQUIT\r\n")).toString("latin1");
    expect(failed).toContain("-ERR [AUTH]");
    await Bun.sleep(100);
    writeFileSync(file, server.log());
    const g = run(["fail2ban-regex", "-o", "ip", file, join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf")]);
    expect(g.out.trim().split("\n")).toEqual(["127.0.0.1"]);
    expect(readdirSync(join(setup.maildir, "cur")).length).toBe(3);
  });
});

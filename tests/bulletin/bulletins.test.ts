/**
 * Qpopper-style bulletins into Maildirs: delivered once per user, new users get the
 * newest max-bulletins, group bulletins only to the group's members, mbox "From "
 * lines dropped; and through pop3d at login.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deliverBulletins, listBulletins } from "../../mod/bulletin/bulletins.ts";
import { applet, run, tempDir } from "../helpers.ts";
import { makeMaildir } from "../pop3/conversation.ts";

function setup() {
  const root = tempDir("bulletins");
  const bulls = join(root, "bulletins");
  mkdirSync(bulls);
  const home = join(root, "home");
  makeMaildir(home, []);
  const maildir = join(home, "Maildir");
  const inbox = () => readdirSync(join(maildir, "new")).map((f) => readFileSync(join(maildir, "new", f), "latin1")).sort();
  return { root, bulls, home, maildir, inbox };
}

const GROUPS = "staff:x:50:ann\nwheel:x:10:\n";

describe("bulletins", () => {
  test("listing: numbered files only, oldest first; NUMBER.GROUP.name is a group bulletin", () => {
    const s = setup();
    for (const f of ["10.news", "2.welcome", "3.staff.memo", "README", "4"]) writeFileSync(join(s.bulls, f), "x");
    expect(listBulletins(s.bulls).map((b) => [b.number, b.group])).toEqual([[2, undefined], [3, "staff"], [4, undefined], [10, undefined]]);
  });

  test("a new user gets the newest max-bulletins; later logins only what is new, each once", async () => {
    const s = setup();
    for (let i = 1; i <= 3; i++) writeFileSync(join(s.bulls, `${i}.b${i}`), `Subject: bulletin ${i}\n\ntext ${i}\n`);
    const who = { user: "joe", gids: [100], groupFile: GROUPS };
    expect(await deliverBulletins(s.bulls, s.maildir, 2, who)).toBe(2);
    expect(s.inbox()).toEqual(["Subject: bulletin 2\n\ntext 2\n", "Subject: bulletin 3\n\ntext 3\n"]);
    expect(readFileSync(join(s.maildir, ".popbull"), "latin1")).toBe("3\n");
    expect(await deliverBulletins(s.bulls, s.maildir, 2, who)).toBe(0);
    writeFileSync(join(s.bulls, "4.b4"), "From admin@example.org Sat Nov 21 10:00:00 2026\nSubject: bulletin 4\n\ntext 4\n");
    expect(await deliverBulletins(s.bulls, s.maildir, 2, who)).toBe(1);
    expect(s.inbox()).toContain("Subject: bulletin 4\n\ntext 4\n"); // the mbox From line is not part of the message
    expect(s.inbox().length).toBe(3);
  });

  test("group bulletins reach members (by gid or member list) only; max-bulletins=0 gives new users none", async () => {
    const s = setup();
    writeFileSync(join(s.bulls, "1.staff.memo"), "Subject: staff only\n\n.\n");
    writeFileSync(join(s.bulls, "2.all"), "Subject: everyone\n\n.\n");
    const member = setup();
    for (const f of readdirSync(s.bulls)) writeFileSync(join(member.bulls, f), readFileSync(join(s.bulls, f)));
    expect(await deliverBulletins(s.bulls, s.maildir, 10, { user: "joe", gids: [100], groupFile: GROUPS })).toBe(1);
    expect(s.inbox()).toEqual(["Subject: everyone\n\n.\n"]);
    expect(await deliverBulletins(member.bulls, member.maildir, 10, { user: "ann", gids: [100], groupFile: GROUPS })).toBe(2);
    const byGid = setup();
    writeFileSync(join(byGid.bulls, "1.wheel.x"), "Subject: wheel\n\n.\n");
    expect(await deliverBulletins(byGid.bulls, byGid.maildir, 10, { user: "bob", gids: [10], groupFile: GROUPS })).toBe(1);
    const none = setup();
    writeFileSync(join(none.bulls, "1.all"), "Subject: old\n\n.\n");
    expect(await deliverBulletins(none.bulls, none.maildir, 0, { user: "bob", gids: [], groupFile: GROUPS })).toBe(0);
    expect(readFileSync(join(none.maildir, ".popbull"), "latin1")).toBe("1\n");
  });

  test("through pop3d at login (POPPIN_BULLETINS, POPPIN_MAX_BULLETINS): listed in the same session, once; a bad directory only warns", () => {
    const s = setup();
    writeFileSync(join(s.bulls, "7.welcome"), "Subject: welcome\n\nhello\n");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", USER: "joe", TCPREMOTEIP: "192.0.2.7", POPPIN_BULLETINS: s.bulls, POPPIN_MAX_BULLETINS: "5" };
    const first = run([applet("qmail-pop3d"), "Maildir"], { stdin: "STAT\r\nQUIT\r\n", cwd: s.home, env });
    expect(first.out).toMatch(/^\+OK \r\n\+OK 1 \d+\r\n/);
    expect(first.stderr).toContain("qmail-pop3d: info: bulletins=1 user=joe rip=192.0.2.7");
    const second = run([applet("qmail-pop3d"), "Maildir"], { stdin: "STAT\r\nQUIT\r\n", cwd: s.home, env });
    expect(second.out).toMatch(/^\+OK \r\n\+OK 1 \d+\r\n/);
    const missing = run([applet("qmail-pop3d"), "Maildir"], { stdin: "STAT\r\nQUIT\r\n", cwd: s.home, env: { ...env, POPPIN_BULLETINS: join(s.root, "nope") } });
    expect(missing.code).toBe(0); // a bulletin problem never stops the login
    expect(missing.out).toMatch(/^\+OK \r\n\+OK 1 \d+\r\n/);
    expect(missing.stderr).toContain(`qmail-pop3d: warning: bulletins not delivered: unable to read bulletin directory ${join(s.root, "nope")}: file does not exist user=joe`);
  });
});

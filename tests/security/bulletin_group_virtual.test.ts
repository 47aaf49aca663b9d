/**
 * Group bulletins (`NUMBER.GROUP.name`) reach the members of a Unix group: by the session's
 * gids, or by name in the group's member list in /etc/group (a session process that got no
 * supplementary groups). That list names system accounts. A virtual user whose login is
 * spelled like a listed system account (anyone may pick such a name where virtual users
 * sign up, or an administrator may reuse one) must not be handed that group's notices.
 * Played with a real account and group, pop3d run with a virtual user's uid and with the account's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chownSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { POPPIN, run } from "../helpers.ts";
import { localUser, removeLocalUsers, sharedBase, type LocalUser } from "./local_users.ts";

const groups: string[] = [];
afterAll(() => {
  removeLocalUsers();
  for (const g of groups.splice(0)) Bun.spawnSync(["groupdel", g]);
});

/** A virtual user's uid and gid: no passwd entry (as vmail setups often have). */
const VIRTUAL_ID = 48213;

/** A group of which `user` is a listed member (not their primary group). */
function groupWithMember(user: LocalUser): string {
  const name = `pbg${randomBytes(3).toString("hex")}`;
  expect(run(["groupadd", name]).code).toBe(0);
  groups.push(name);
  expect(run(["gpasswd", "-a", user.name, name]).code).toBe(0);
  return name;
}

function maildirOf(dir: string, uid: number, gid: number): string {
  const maildir = join(dir, "Maildir");
  for (const d of [dir, maildir, ...["tmp", "new", "cur"].map((s) => join(maildir, s))]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chownSync(d, uid, gid);
  }
  return maildir;
}

/** Messages in the Maildir (pop3d moves what it listed from new/ to cur/ at QUIT). */
function messages(maildir: string): number {
  return readdirSync(join(maildir, "new")).length + readdirSync(join(maildir, "cur")).length;
}

function pop3d(uid: number, gid: number, home: string, user: string, bulletins: string): string {
  const r = spawnSync(POPPIN, ["pop3d", "Maildir"], {
    uid, gid, cwd: home, input: "STAT\r\nQUIT\r\n", timeout: 30_000,
    env: { PATH: "/usr/bin:/bin", USER: user, HOME: home, POPPIN_BULLETINS: bulletins, POPPIN_MAX_BULLETINS: "5" },
  });
  return r.stdout.toString("latin1");
}

describe("group bulletins and virtual users", () => {
  test("a virtual user named like a listed member gets no group bulletin; the system account itself does", () => {
    const base = sharedBase("bulletin-group");
    const account = localUser("pbu", base);
    const group = groupWithMember(account);
    const bulletins = join(base, "bulletins");
    mkdirSync(bulletins, { mode: 0o755 });
    writeFileSync(join(bulletins, `1.${group}.notice`), "Subject: for the group only\n\nmembers' notice\n", { mode: 0o644 });
    writeFileSync(join(bulletins, "2.everyone"), "Subject: for all\n\nhello\n", { mode: 0o644 });

    // The virtual user: its own uid, the account's name as its login.
    const virtualHome = join(base, "virtual");
    const virtualMaildir = maildirOf(virtualHome, VIRTUAL_ID, VIRTUAL_ID);
    expect(pop3d(VIRTUAL_ID, VIRTUAL_ID, virtualHome, account.name, bulletins)).toMatch(/^\+OK \r\n\+OK 1 \d+\r\n/);
    expect(messages(virtualMaildir)).toBe(1);

    // The system account (its process has no supplementary groups: the member list decides).
    const maildir = maildirOf(account.home, account.uid, account.gid);
    expect(pop3d(account.uid, account.gid, account.home, account.name, bulletins)).toMatch(/^\+OK \r\n\+OK 2 \d+\r\n/);
    expect(messages(maildir)).toBe(2);
  });
});

/**
 * qmqpd's local delivery run by root is all or nothing: when a later recipient fails, the
 * copies already made are removed. The first recipient is a hostile local user; between
 * their delivery and the rollback (qmqpd is still busy with the next recipient) they turn
 * ~/Maildir into a link to a directory only root may write. The rollback must not remove
 * the entry of that name there: it is done as the recipient, like the delivery.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { maildirDeliver } from "../../mod/maildir/deliver.ts";
import { deliverToAll, type LocalTarget } from "../../mod/qmqp/local.ts";
import { localUser, removeLocalUsers, sharedBase } from "./local_users.ts";

afterAll(removeLocalUsers);

function asUserSh(uid: number, gid: number, script: string, ...args: string[]): void {
  const r = spawnSync("sh", ["-c", script, "sh", ...args], { uid, gid, env: { PATH: "/usr/bin:/bin" } });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
}

describe("qmqpd local delivery as root", () => {
  test("a failed request's rollback never removes a file through a link the first recipient made", async () => {
    const base = sharedBase("qmqp-rollback");
    const mallory = localUser("qrb", base);
    const maildir = join(mallory.home, "Maildir");
    asUserSh(mallory.uid, mallory.gid, 'mkdir -p "$1/tmp" "$1/new" "$1/cur"', maildir);
    // Root's directory (think /etc): only root writes here.
    const protectedDir = join(base, "root-only");
    mkdirSync(join(protectedDir, "new"), { recursive: true });
    chmodSync(protectedDir, 0o755);
    const targets: LocalTarget[] = [
      { recipient: Buffer.from(`${mallory.name}@example.org`), maildir, uid: mallory.uid, gid: mallory.gid },
      // The second recipient's Maildir is missing: the request fails after the first copy.
      { recipient: Buffer.from("other@example.org"), maildir: join(base, "missing", "Maildir"), uid: mallory.uid, gid: mallory.gid },
    ];
    // The first copy's name is known in advance here (a fixed clock); root has a file of that
    // name in its directory, standing for any entry there.
    const opts = { now: () => ({ sec: 1700000000, usec: 1 }), pid: 4242, host: "test", sizesInName: false };
    const name = "1700000000.M1P4242.test";
    writeFileSync(join(protectedDir, "new", name), "root's\n");
    let calls = 0;
    const deliver = async (dir: string, bytes: Uint8Array) => {
      const delivered = await maildirDeliver(dir, bytes, opts);
      if (calls++ === 0) {
        // Meanwhile the recipient (qmqpd runs with their ids right now) swaps ~/Maildir for a link.
        expect(process.geteuid!()).toBe(mallory.uid);
        renameSync(maildir, `${maildir}.real`);
        symlinkSync(protectedDir, maildir);
      }
      return delivered;
    };
    await expect(deliverToAll(targets, Buffer.from("sender@example.org"), [Buffer.from("Subject: x\n\nbody\n")], deliver)).rejects.toThrow();
    expect(calls).toBe(1);
    expect(readdirSync(join(protectedDir, "new"))).toEqual([name]);
    // The recipient's own copy stays (their link now hides it); nothing of root's was touched.
    expect(readdirSync(join(`${maildir}.real`, "new"))).toEqual([name]);
    expect(process.geteuid!()).toBe(0); // qmqpd is root again afterwards
  });

  test("without a link, the copies already made are removed (all or nothing)", async () => {
    const base = sharedBase("qmqp-rollback");
    const user = localUser("qrc", base);
    const maildir = join(user.home, "Maildir");
    asUserSh(user.uid, user.gid, 'mkdir -p "$1/tmp" "$1/new" "$1/cur"', maildir);
    const targets: LocalTarget[] = [
      { recipient: Buffer.from(`${user.name}@example.org`), maildir, uid: user.uid, gid: user.gid },
      { recipient: Buffer.from("other@example.org"), maildir: join(base, "missing", "Maildir"), uid: user.uid, gid: user.gid },
    ];
    await expect(deliverToAll(targets, Buffer.from("sender@example.org"), [Buffer.from("Subject: x\n\nbody\n")])).rejects.toThrow();
    expect(readdirSync(join(maildir, "new"))).toEqual([]);
    expect(readdirSync(join(maildir, "tmp"))).toEqual([]);
  });
});

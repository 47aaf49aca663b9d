/**
 * A virtual user's home on a filesystem that never answers (here a FUSE mount root made for
 * every uid, as an NFS server that stopped answering would be), with POPPIN_HOME_BASE set.
 * The password check resolved the home's links as root to see where it leads: in serve
 * --inline on the event loop thread, so one login stopped serve for every user, for good;
 * in the chain, checkpassword waited there as root, before any watchdog. Now the home's words
 * are checked at the password check and where it leads only by the user's own process, after
 * its uid switch, under the session's watchdog: the other users are served meanwhile and the
 * stuck session ends after its timeout plus 10 s.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { startServer, talk, talkToEnd, type Running } from "../standalone/harness.ts";
import { MODES } from "../session/modes.ts";
import { localUser, removeLocalUsers, sharedBase } from "./local_users.ts";
import { hungMount, type HungMount } from "./hung_mount.ts";

const servers: Running[] = [];
const mounts: HungMount[] = [];
afterAll(async () => {
  for (const m of mounts) await m.remove();
  for (const s of servers) await s.stop(2_000);
  removeLocalUsers();
});

const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

describe.each(MODES)("%s, serve as root, virtual users under POPPIN_HOME_BASE", (mode) => {
  test.concurrent("one user's home never answers: the others are served meanwhile, the stuck session ends", async () => {
    const shared = sharedBase("hung-home");
    const owner = localUser("phh", shared);
    const base = join(shared, "vmail");
    const userdb = join(shared, "users");
    const add = (name: string, home: string) => expect(run([POPPIN, "users", "-f", userdb, "add", name, String(owner.uid), String(owner.gid), home], { stdin: "secret\n" }).code).toBe(0);
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(base, "fine", "Maildir", sub), { recursive: true });
    // The stuck home is a directory on the mount (as /home/NAME on an NFS export): finding it is a request.
    const mount = join(base, "nfs");
    mkdirSync(mount, { recursive: true });
    run(["chown", "-R", `${owner.uid}:${owner.gid}`, base]);
    add("fine", join(base, "fine"));
    add("stuck", join(mount, "stuck"));
    mounts.push(await hungMount({ ...owner, home: mount }, mount, { byRoot: true }));
    const server = await startServer([POPPIN, "serve", ...(mode === "inline" ? ["--inline"] : []), "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], {
      POPPIN_USERDB: userdb, POPPIN_HOME_BASE: base, POPPIN_AUTH_FAILURE_DELAY: "0", POPPIN_TIMEOUT: "2",
      ...(mode === "processes" ? { POPPIN_ONE_PROCESS: "0" } : {}),
    });
    servers.push(server);
    const stuck = talkToEnd(server.port, "USER stuck\r\nPASS secret\r\nSTAT\r\n", 40_000);
    await Bun.sleep(1_000);
    // serve answers another user at once (it stopped for every user before, under --inline).
    const fine = (await talk(server.port, "USER fine\r\nPASS secret\r\nSTAT\r\nQUIT\r\n", 8_000)).toString("latin1");
    expect(fine).toContain("+OK 0 0\r\n");
    // The stuck session ends (it waited for good before, in every host).
    const end = await stuck;
    expect(end.bytes.toString("latin1")).not.toContain("+OK 0 0");
  }, 90_000);

  test.concurrent("a home that leads out of the base through its owner's link: refused, nothing served from it", async () => {
    const shared = sharedBase("hung-home");
    const owner = localUser("phl", shared);
    const base = join(shared, "vmail");
    const outside = join(shared, "outside");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(outside, "Maildir", sub), { recursive: true });
    writeFileSync(join(outside, "Maildir", "new", "1700000000.M1P1.host"), "Subject: outside\n\nnot under the base\n");
    mkdirSync(base, { recursive: true });
    symlinkSync(outside, join(base, "linked"));
    run(["chown", "-R", "-h", `${owner.uid}:${owner.gid}`, base, outside]);
    const userdb = join(shared, "users");
    expect(run([POPPIN, "users", "-f", userdb, "add", "linked", String(owner.uid), String(owner.gid), join(base, "linked")], { stdin: "secret\n" }).code).toBe(0);
    const server = await startServer([POPPIN, "serve", ...(mode === "inline" ? ["--inline"] : []), "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], {
      POPPIN_USERDB: userdb, POPPIN_HOME_BASE: base, POPPIN_AUTH_FAILURE_DELAY: "0",
      ...(mode === "processes" ? { POPPIN_ONE_PROCESS: "0" } : {}),
    });
    servers.push(server);
    const reply = (await talk(server.port, "USER linked\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n", 10_000)).toString("latin1");
    expect(reply).not.toContain("not under the base");
    expect(reply).not.toMatch(/\+OK 1 \d+/);
    await Bun.sleep(200);
    expect(decodeURIComponent(server.log())).toContain("is outside POPPIN_HOME_BASE");
  }, 30_000);
});

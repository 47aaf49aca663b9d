/**
 * The login side may be given a secret in its environment: POPPIN_OAUTH_CLIENT_SECRET, the
 * credentials checkpassword shows the token introspection endpoint (set by envdir or the unit,
 * as every POPPIN_ variable). checkpassword passes its environment on to PROG (pop3d), which
 * runs as the mailbox owner; started by exec after the switch (the chain's pop3d process), it
 * is the owner's to read: /proc/PID/environ. One that became the user itself (popup's one
 * process, a mail worker, serve --inline's pop3d process per session) is not. The test plays that owner: while
 * their session is open, they read the environment of every process of theirs; the secret is in
 * none of them, in every host, while the session's own variables are there to read.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { POPPIN } from "../helpers.ts";
import { startServer, virtualSetup, type Running } from "../standalone/harness.ts";
import { localUser, processesOf, removeLocalUsers, sharedBase, whileLoggedIn } from "./local_users.ts";

const SECRET = "client-secret-3f9a1c";
const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  removeLocalUsers();
});

describe.each<{ name: string; flags: string[]; env: Record<string, string>; exec: boolean }>([
  { name: "serve as root, checkpassword and pop3d processes", flags: [], env: { POPPIN_ONE_PROCESS: "0" }, exec: true },
  { name: "serve as root, popup serving in one process", flags: [], env: {}, exec: false },
  { name: "serve --inline as root, a user process per session", flags: ["--inline"], env: { POPPIN_MAIL_WORKERS: "0" }, exec: false },
  { name: "serve --inline as root, mail workers", flags: ["--inline"], env: {}, exec: false },
])("$name", ({ flags, env, exec }) => {
  test("the mailbox owner reads the environment of their session's processes: the OAuth client secret is not there", async () => {
    const user = localUser("penv", sharedBase("sessenv"));
    const setup = virtualSetup(["Subject: one\n\nhello\n"], { uid: user.uid, gid: user.gid });
    const server = await startServer([POPPIN, "serve", ...flags, "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], {
      POPPIN_USERDB: setup.userdb,
      POPPIN_OAUTH_INTROSPECTION_URL: "https://127.0.0.1:9/introspect",
      POPPIN_OAUTH_CLIENT_ID: "poppin",
      POPPIN_OAUTH_CLIENT_SECRET: SECRET,
      ...env,
    });
    servers.push(server);
    const environments: string[] = [];
    let processes = 0;
    const reply = await whileLoggedIn(server.port, "USER joe\r\nPASS secret\r\nSTAT\r\n", 4, () => {
      for (const pid of processesOf(user.uid)) {
        processes++;
        const r = spawnSync("cat", [`/proc/${pid}/environ`], { uid: user.uid, gid: user.gid, timeout: 10_000 });
        if (r.status === 0) environments.push(r.stdout.toString("latin1"));
      }
    });
    expect(reply).toContain("+OK 1 ");
    expect(processes).toBeGreaterThan(0); // the session's process was there to look at
    // An exec'd process is the owner's to read (the attack ran); one that became the user
    // without exec is non-dumpable, and its environment is closed to them.
    if (exec) expect(environments.some((e) => e.includes("\0USER=joe\0") || e.startsWith("USER=joe\0"))).toBe(true);
    else expect(environments).toEqual([]);
    for (const e of environments) expect(e).not.toContain(SECRET);
  }, 30_000);
});

/**
 * The process that serves a session after a switch from root, as the compiled binary runs it:
 * popup serving in one process, serve --inline's mail worker, and the pop3d process serve
 * --inline starts with POPPIN_BECOME. While the session is open, every thread of it (the
 * runtime's own, and any started since) has the user's real, effective, saved and filesystem
 * uids and gids, the groups the account should have and no others, no capability in its
 * effective, permitted or ambient set (so setresuid(0, 0, 0) cannot succeed), and the user
 * cannot read its environment (it is not dumpable).
 *
 * Groups: a system user gets exactly initgroups' list (their /etc/group memberships); a
 * virtual user gets only the gid of the users database, even when a system account of the
 * same name is a member of other groups.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, runAccountTool, tempDir } from "../helpers.ts";
import { makeMaildir } from "../pop3/conversation.ts";
import { startServer, type Running } from "../standalone/harness.ts";
import { asUser, localUser, processesOf, removeLocalUsers, sharedBase, whileLoggedIn, type LocalUser } from "./local_users.ts";

const servers: Running[] = [];
const groups: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop(2_000)));
  removeLocalUsers();
  for (const g of groups) Bun.spawnSync(["groupdel", g], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
});

const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const PASSWORD = "Thr3ads-all";
const base = sharedBase("switched");

function withMaildir(user: LocalUser): LocalUser {
  makeMaildir(user.home, ["Subject: one\n\nbody\n"]);
  const own = (path: string) => {
    chownSync(path, user.uid, user.gid);
    if (!path.endsWith(".example")) for (const name of readdirSync(path)) own(join(path, name));
  };
  own(join(user.home, "Maildir"));
  return user;
}

// A system user who is also in two more groups (/etc/group).
const sys = withMaildir(localUser("swt", base));
for (const suffix of ["a", "b"]) {
  const group = `${sys.name}${suffix}`;
  runAccountTool(["groupadd", group], "groupadd");
  groups.push(group);
  runAccountTool(["usermod", "-aG", group, sys.name], "usermod");
}
runAccountTool(["chpasswd", "-c", "YESCRYPT"], "chpasswd", `${sys.name}:${PASSWORD}\n`);
const sysGroups = run(["id", "-G", sys.name]).out.trim().split(/\s+/).map(Number).sort((a, b) => a - b);

// A virtual user of the same name as that system account, mapped to another account's ids.
const mailAccount = withMaildir(localUser("swv", base));
const userdb = join(tempDir("switched-db"), "users");
const added = run([POPPIN, "users", "-f", userdb, "add", sys.name, String(mailAccount.uid), String(mailAccount.gid), mailAccount.home], { stdin: `${PASSWORD}\n` });
if (added.code !== 0) throw new Error(`users add: ${added.stderr}`);

interface ThreadView { ids: string; groups: number[]; caps: string }

/** Every thread of every process of real uid `uid`, and whether `user` could read each process's environment. */
function sessionThreads(uid: number, user: LocalUser): { threads: ThreadView[]; environReadable: boolean[] } {
  const threads: ThreadView[] = [];
  const environReadable: boolean[] = [];
  for (const pid of processesOf(uid)) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let st: string;
      try {
        st = readFileSync(`/proc/${pid}/task/${tid}/status`, "latin1");
      } catch {
        continue;
      }
      const line = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(st)![1]!.trim().replace(/\s+/g, " ");
      threads.push({
        ids: `${line("Uid")}|${line("Gid")}`,
        groups: line("Groups").split(" ").filter(Boolean).map(Number).sort((a, b) => a - b),
        caps: ["CapEff", "CapPrm", "CapAmb"].map((c) => `${c} ${line(c)}`).join("|"),
      });
    }
    environReadable.push(asUser(user, ["cat", `/proc/${pid}/environ`]).code === 0);
  }
  return { threads, environReadable };
}

async function observe(flags: string[], env: Record<string, string>, served: LocalUser) {
  const s = await startServer([POPPIN, "serve", ...flags, "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], env);
  servers.push(s);
  let seen!: ReturnType<typeof sessionThreads>;
  const transcript = await whileLoggedIn(s.port, `USER ${sys.name}\r\nPASS ${PASSWORD}\r\nSTAT\r\nRETR 1\r\n`, 5, () => {
    seen = sessionThreads(served.uid, served);
  });
  expect(transcript).toContain("body");
  return seen;
}

describe.each<{ host: string; flags: string[]; env: Record<string, string> }>([
  { host: "serve, popup serving in one process", flags: [], env: {} },
  { host: "serve --inline, a mail worker", flags: ["--inline"], env: {} },
  { host: "serve --inline, a pop3d process (POPPIN_BECOME)", flags: ["--inline"], env: { POPPIN_MAIL_WORKERS: "0" } },
])("$host", ({ flags, env }) => {
  const zero = "CapEff 0000000000000000|CapPrm 0000000000000000|CapAmb 0000000000000000";

  test("a system user: every thread at the user's ids, exactly initgroups' groups, no capability; environment not the user's to read", async () => {
    const seen = await observe(flags, env, sys);
    expect(seen.threads.length).toBeGreaterThan(1);
    const u = sys.uid;
    const g = sys.gid;
    for (const t of seen.threads) {
      expect(t).toEqual({ ids: `${u} ${u} ${u} ${u}|${g} ${g} ${g} ${g}`, groups: sysGroups, caps: zero });
    }
    expect(sysGroups.length).toBe(3);
    expect(seen.environReadable).toEqual(seen.environReadable.map(() => false));
  });

  test("a virtual user named as that system account: only the database's gid, none of the account's groups", async () => {
    const seen = await observe(flags, { ...env, POPPIN_USERDB: userdb }, mailAccount);
    expect(seen.threads.length).toBeGreaterThan(1);
    const u = mailAccount.uid;
    const g = mailAccount.gid;
    for (const t of seen.threads) {
      expect(t).toEqual({ ids: `${u} ${u} ${u} ${u}|${g} ${g} ${g} ${g}`, groups: [g], caps: zero });
    }
    expect(seen.environReadable).toEqual(seen.environReadable.map(() => false));
  });
});

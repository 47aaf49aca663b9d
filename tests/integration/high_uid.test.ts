/**
 * A mail user whose uid and gid are above 2^31 - 1 (valid on Linux up to 4294967294), through
 * every host: the classic chain behind serve as root (checkpassword becoming the user, in one
 * process and as real processes), serve --inline as root (a mail worker, and a pop3d process
 * of its own), and serve -u/-g with that uid (a virtual user of it). Each logs in, RETRs and
 * DELEs a message and QUITs; while logged in, the session's process runs with the user's ids
 * and groups; afterwards the Maildir holds what pop3d left, all of it the user's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { makeMaildir } from "../pop3/conversation.ts";
import { startServer, type Running } from "../standalone/harness.ts";
import { processesOf, whileLoggedIn } from "../security/local_users.ts";
import { highAccount, removeHighAccounts, type HighAccount } from "../sys/high_account.ts";

const servers: Running[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop(2_000)));
  removeHighAccounts();
});

const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const FIRST = "From: a@example.org\nSubject: first\n\nbody one\n";
const SECOND = "From: b@example.org\nSubject: second\n\nbody two\n";

/** Every path under `dir` with its owner. */
function owners(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string) => {
    const st = lstatSync(path);
    out.set(path.slice(dir.length) || "/", `${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return out;
}

/** Gives `path` and everything in it to uid:gid. */
function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** The Uid, Gid and Groups lines of process `pid`, spaces squeezed. */
function idLines(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, "latin1").split("\n").filter((l) => /^(Uid|Gid|Groups):/.test(l)).map((l) => l.trim().replace(/\s+/g, " ")).join("|");
}

/** idLines of each process of real uid `uid` (the session's). */
function sessionIds(uid: number): string[] {
  return processesOf(uid).map(idLines);
}

async function session(server: Running, acct: HighAccount, login: string): Promise<{ transcript: string; during: string[] }> {
  let during: string[] = [];
  const transcript = await whileLoggedIn(server.port, `USER ${login}\r\nPASS ${acct.password}\r\nSTAT\r\nRETR 1\r\nDELE 1\r\n`, 6, () => {
    during = sessionIds(acct.uid);
  });
  return { transcript, during };
}

function checkSession(r: { transcript: string; during: string[] }, acct: HighAccount, groups: string, log: () => string): void {
  const lines = r.transcript.split("\r\n");
  expect(lines.slice(1, 4), log()).toEqual(["+OK ", "+OK ", `+OK 2 ${FIRST.length + SECOND.length + 8}`]);
  expect(lines.slice(4).join("\r\n")).toBe(`+OK ${FIRST.length + 4} octets\r\n${FIRST.replaceAll("\n", "\r\n")}.\r\n+OK message 1 deleted\r\n+OK \r\n`);
  // The session's process while logged in: the user's ids, every one of them, and groups.
  expect(r.during.length, log()).toBeGreaterThan(0);
  const u = acct.uid;
  expect(new Set(r.during)).toEqual(new Set([`Uid: ${u} ${u} ${u} ${u}|Gid: ${acct.gid} ${acct.gid} ${acct.gid} ${acct.gid}|Groups: ${groups}`]));
}

function checkMaildir(maildir: string, acct: HighAccount): void {
  const cur = readdirSync(join(maildir, "cur"));
  expect([...readdirSync(join(maildir, "new")), ...cur].map((n) => readFileSync(join(maildir, cur.includes(n) ? "cur" : "new", n), "latin1"))).toEqual([SECOND]);
  // Whatever pop3d created or moved is the user's: nothing of root's was left in their Maildir.
  expect(new Set(owners(maildir).values())).toEqual(new Set([`${acct.uid}:${acct.gid}`]));
}

describe("a system user above 2^31 - 1, serve as root", () => {
  const acct = highAccount("hiu");
  const maildir = join(acct.home, "Maildir");
  const fresh = () => {
    run(["rm", "-rf", maildir]);
    makeMaildir(acct.home, [FIRST, SECOND]);
    chownTree(maildir, acct.uid, acct.gid);
  };
  const modes: [string, string[], Record<string, string>][] = [
    ["the classic chain (checkpassword in popup's process)", [], {}],
    ["the classic chain as processes (checkpassword execs pop3d)", [], { POPPIN_ONE_PROCESS: "0" }],
    ["serve --inline (a mail worker)", ["--inline"], {}],
    ["serve --inline, a pop3d process per session (POPPIN_MAIL_WORKERS=0)", ["--inline"], { POPPIN_MAIL_WORKERS: "0" }],
  ];
  for (const [name, flags, env] of modes) {
    test(`${name}: login, RETR, DELE, QUIT as the user's uid, gid and groups`, async () => {
      fresh();
      const server = await startServer([POPPIN, "serve", ...flags, "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], { POPPIN_AUTH_FAILURE_DELAY: "0", ...env });
      servers.push(server);
      const r = await session(server, acct, acct.name);
      // initgroups: the account's groups from the group database (here just its own).
      checkSession(r, acct, `${acct.gid}`, server.log);
      checkMaildir(maildir, acct);
      await server.stop(2_000);
    });
  }

  test("root's deliver into the user's Maildir writes as the user; the next session RETRs it", async () => {
    fresh();
    const d = run([POPPIN, "deliver", maildir], { stdin: "Subject: delivered\n\nnew\n" });
    expect({ code: d.code, stderr: d.stderr }).toEqual({ code: 0, stderr: "" });
    expect(new Set(owners(maildir).values())).toEqual(new Set([`${acct.uid}:${acct.gid}`]));
    const server = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], { POPPIN_AUTH_FAILURE_DELAY: "0" });
    servers.push(server);
    const r = await whileLoggedIn(server.port, `USER ${acct.name}\r\nPASS ${acct.password}\r\nRETR 3\r\n`, 4, () => {});
    expect(r).toContain("Subject: delivered\r\n\r\nnew\r\n.\r\n");
    await server.stop(2_000);
  });
});

describe("serve -u and -g above 2^31 - 1, a virtual user of that uid", () => {
  const acct = highAccount("hiv");
  const maildir = join(acct.home, "Maildir");
  const base = tempDir("hivdb");
  chmodSync(base, 0o755);
  const userdb = join(base, "users");
  writeFileSync(userdb, "");
  const add = run([POPPIN, "users", "-f", userdb, "add", "vbig", String(acct.uid), String(acct.gid), acct.home], { stdin: `${acct.password}\n` });
  if (add.code !== 0) throw new Error(`users add: ${add.stderr}`);
  chownSync(userdb, acct.uid, acct.gid);
  for (const [name, flags] of [["the classic chain", []], ["serve --inline", ["--inline"]]] as const) {
    test(`${name}: serve runs as the uid and gid, checkpassword admits the user of that uid, pop3d serves the Maildir`, async () => {
      run(["rm", "-rf", maildir]);
      makeMaildir(acct.home, [FIRST, SECOND]);
      chownTree(maildir, acct.uid, acct.gid);
      const server = await startServer([POPPIN, "serve", ...flags, "-v", "-R", "-H", "-1", "-u", String(acct.uid), "-g", String(acct.gid), "127.0.0.1", "0", ...CHAIN], { POPPIN_AUTH_FAILURE_DELAY: "0", POPPIN_USERDB: userdb });
      servers.push(server);
      // serve itself runs as the user now (tcpserver's -u/-g: groups = [gid]).
      expect(idLines(server.proc.pid)).toBe(`Uid: ${acct.uid} ${acct.uid} ${acct.uid} ${acct.uid}|Gid: ${acct.gid} ${acct.gid} ${acct.gid} ${acct.gid}|Groups: ${acct.gid}`);
      const r = await session(server, acct, "vbig");
      checkSession(r, acct, `${acct.gid}`, server.log);
      checkMaildir(maildir, acct);
      await server.stop(2_000);
    });
  }
});

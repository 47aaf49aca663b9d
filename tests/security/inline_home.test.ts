/**
 * serve --inline run by root starts each session's pop3d as the user, in the user's home.
 * checkpassword changes to the home *as the user*; so must --inline. Here a local user owns
 * the directory that holds the home of an account with their uid, and makes that home a
 * link into a directory only root may enter. Started there by root, their pop3d would serve
 * the Maildir it finds: mail (or any file) the user could not reach. As the user, the change
 * of directory fails, and the session gets one -ERR.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { startServer, talk, type Running } from "../standalone/harness.ts";
import { localUser, removeLocalUsers, sharedBase } from "./local_users.ts";

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  removeLocalUsers();
});

const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

describe("serve --inline as root", () => {
  test("the user's pop3d changes to the home as the user: a home linked into root's directories gets -ERR, nothing served", async () => {
    const base = sharedBase("inline-home");
    const alice = localUser("pih", base);
    // Root's: a directory only root may enter, holding a readable Maildir.
    const vault = join(base, "vault");
    const inner = join(vault, "open");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(inner, "Maildir", sub), { recursive: true });
    writeFileSync(join(inner, "Maildir", "cur", "1700000000.M1P1.host:2,"), "Subject: root's\n\nnot for alice\n");
    chmodSync(vault, 0o700);
    // alice's account for her list mail has its home inside her own home: she replaces it by a link.
    const home = join(alice.home, "lists");
    symlinkSync(inner, home);
    const link = Bun.spawnSync(["chown", "-h", `${alice.uid}:${alice.gid}`, home]);
    expect(link.exitCode).toBe(0);
    const userdb = join(base, "users");
    expect(run([POPPIN, "users", "-f", userdb, "add", "lists", String(alice.uid), String(alice.gid), home], { stdin: "secret\n" }).code).toBe(0);
    // Without root's help alice cannot reach it.
    expect(Bun.spawnSync(["ls", join(home, "Maildir", "cur")], { uid: alice.uid, gid: alice.gid }).exitCode).not.toBe(0);
    const server = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], { POPPIN_USERDB: userdb, POPPIN_AUTH_FAILURE_DELAY: "0" });
    servers.push(server);
    const reply = (await talk(server.port, "USER lists\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n")).toString("latin1");
    expect(reply).not.toContain("not for alice");
    expect(reply).not.toMatch(/\+OK 1 \d+/);
    // One answer to PASS: the greeting, USER's +OK, then one -ERR.
    expect(reply.split("\r\n").filter((l) => l !== "").slice(0, 3).map((l) => l.slice(0, 4))).toEqual(["+OK ", "+OK ", "-ERR"]);
    expect(reply.match(/-ERR/g)!.length).toBe(1);
    await Bun.sleep(200);
    expect(server.log()).toContain(`unable to chdir to ${home}`);
  }, 30_000);

  test("an ordinary home: the session is served from it", async () => {
    const base = sharedBase("inline-home");
    const bob = localUser("pib", base);
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(bob.home, "Maildir", sub), { recursive: true });
    writeFileSync(join(bob.home, "Maildir", "cur", "1700000000.M1P1.host:2,"), "Subject: bob's\n\nfor bob\n");
    Bun.spawnSync(["chown", "-R", `${bob.uid}:${bob.gid}`, join(bob.home, "Maildir")]);
    chmodSync(bob.home, 0o700);
    chownSync(bob.home, bob.uid, bob.gid);
    const userdb = join(base, "users");
    expect(run([POPPIN, "users", "-f", userdb, "add", "bob", String(bob.uid), String(bob.gid), bob.home], { stdin: "secret\n" }).code).toBe(0);
    const server = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], { POPPIN_USERDB: userdb, POPPIN_AUTH_FAILURE_DELAY: "0" });
    servers.push(server);
    const reply = (await talk(server.port, "USER bob\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n")).toString("latin1");
    expect(reply).toContain("for bob\r\n");
    expect(reply).toMatch(/\+OK 1 \d+\r\n/);
  }, 30_000);
});

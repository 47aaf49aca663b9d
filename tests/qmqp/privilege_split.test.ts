/**
 * qmqpd started as root: the client is read as $UID/$GID and each copy is written by a child
 * running as its recipient (qmail-lspawn's split). Virtual users with two different uids get
 * files they own; a Maildir that belongs to someone else, or a symlink into root's files,
 * gets nothing; root without $UID/$GID refuses to start. Also qmail-local's header rule:
 * an LF (or CR) in the envelope sender or a recipient becomes "_", so no header is forged.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { parseAnswer, qmqpRequest } from "./client.ts";

const NOBODY = 65534;
const OTHER = 64999;
const work = tempDir("qmqp-split");
chmodSync(work, 0o755);
const userdb = join(work, "users");

function addUser(name: string, uid: number, maildirOwner = uid): string {
  const home = join(work, name);
  mkdirSync(home);
  expect(run([applet("maildirmake"), join(home, "Maildir")]).code).toBe(0);
  expect(run(["chown", "-R", `${maildirOwner}:${maildirOwner}`, home]).code).toBe(0);
  expect(run([applet("users"), "-f", userdb, "add", name, String(uid), String(uid), home], { stdin: "pw\n" }).code).toBe(0);
  return join(home, "Maildir");
}

const alice = addUser("alice", NOBODY);
const olga = addUser("olga", OTHER);
const mallory = addUser("mallory", OTHER, NOBODY);
// A user whose Maildir is a symlink to a directory of root's.
const rootDir = join(work, "root-owned");
expect(run([applet("maildirmake"), rootDir]).code).toBe(0);
const eve = join(work, "eve");
mkdirSync(eve);
symlinkSync(rootDir, join(eve, "Maildir"));
expect(run(["chown", "-h", `${NOBODY}:${NOBODY}`, eve, join(eve, "Maildir")]).code).toBe(0);
expect(run([applet("users"), "-f", userdb, "add", "eve", String(NOBODY), String(NOBODY), eve], { stdin: "pw\n" }).code).toBe(0);

const ENV = { PATH: "/usr/bin:/bin", POPPIN_USERDB: userdb, UID: String(NOBODY), GID: String(NOBODY), TCPREMOTEIP: "192.0.2.9", TCPLOCALHOST: "mx.example" };

function qmqpd(stdin: Uint8Array, env: Record<string, string | undefined> = {}) {
  const r = run([applet("qmail-qmqpd")], { stdin, env: { ...ENV, ...env } });
  return { answer: r.stdout.length ? parseAnswer(r.stdout) : undefined, code: r.code, stderr: r.stderr };
}

function newFiles(maildir: string): string[] {
  return readdirSync(join(maildir, "new")).map((f) => join(maildir, "new", f));
}

describe("qmqpd started as root", () => {
  test("each copy is written as its recipient: two uids, two owners", () => {
    const r = qmqpd(qmqpRequest("Subject: split\n\nhi\n", "s@x", ["alice@x", "olga@x"]));
    expect(r.answer).toMatch(/^Kok \d+ qp \d+$/);
    const [a] = newFiles(alice);
    const [o] = newFiles(olga);
    expect(statSync(a).uid).toBe(NOBODY);
    expect(statSync(o).uid).toBe(OTHER);
    expect(statSync(o).gid).toBe(OTHER);
    expect(readFileSync(o, "latin1")).toEndWith("Subject: split\n\nhi\n");
  });

  test("one recipient (the helper becomes the recipient itself): the copy is the recipient's", () => {
    const before = new Set(newFiles(olga));
    const r = qmqpd(qmqpRequest("Subject: alone\n\nhi\n", "s@x", ["olga@x"]));
    expect(r.answer).toMatch(/^Kok /);
    const added = newFiles(olga).filter((f) => !before.has(f));
    expect(added.length).toBe(1);
    expect(statSync(added[0]!).uid).toBe(OTHER);
  });

  test("a Maildir that belongs to another uid: Z, nothing written, the copy for alice taken back", () => {
    const before = newFiles(alice);
    const r = qmqpd(qmqpRequest("m\n", "s@x", ["alice@x", "mallory@x"]));
    expect(r.answer).toBe("Zsorry, unable to write the message to a Maildir (#4.3.0)");
    expect(r.stderr).toContain(`belongs to uid ${NOBODY}, not to the recipient's uid ${OTHER}`);
    expect(newFiles(alice)).toEqual(before);
    expect(newFiles(mallory)).toEqual([]);
    expect(readdirSync(join(mallory, "tmp"))).toEqual([]);
  });

  test("a Maildir that is a symlink into root's files: nothing is written there", () => {
    const r = qmqpd(qmqpRequest("m\n", "s@x", ["eve@x"]));
    expect(r.answer).toStartWith("Z");
    expect(readdirSync(join(rootDir, "new"))).toEqual([]);
    expect(readdirSync(join(rootDir, "tmp"))).toEqual([]);
  });

  test("without $UID and $GID it refuses to start: no answer, exit 111, the reason logged", () => {
    const r = qmqpd(qmqpRequest("m\n", "s@x", ["alice@x"]), { UID: undefined, GID: undefined });
    expect(r.answer).toBeUndefined();
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("qmail-qmqpd: fatal: started as root without $UID and $GID: run it as envuidgid QMQPDACCOUNT ... qmqpd (the network side never runs as root)\n");
    const root = qmqpd(qmqpRequest("m\n", "s@x", ["alice@x"]), { UID: "0", GID: "0" });
    expect(root.code).toBe(111);
    expect(root.stderr).toContain("$UID is 0");
  });
});

describe("header injection through the envelope (qmail-local's rule)", () => {
  test("LF and CR in the sender and a recipient become _: the forged lines stay inside Return-Path and Delivered-To", () => {
    const before = new Set(newFiles(alice));
    const sender = "a@b>\nFrom: ceo@bank.example\nSubject: forged\n\n<x";
    const recipient = "alice@x\r\nSubject: forged too";
    const r = qmqpd(qmqpRequest("From: real@sender\nSubject: real\n\nbody\n", sender, [recipient]));
    expect(r.answer).toMatch(/^Kok /);
    const added = newFiles(alice).filter((f) => !before.has(f));
    expect(added.length).toBe(1);
    const text = readFileSync(added[0], "latin1");
    expect(text).toStartWith(
      "Return-Path: <a@b>_From: ceo@bank.example_Subject: forged__<x>\n" +
      "Delivered-To: alice@x__Subject: forged too\n" +
      "Received: from unknown (192.0.2.9)\n  by mx.example with QMQP; ",
    );
    expect(text).toEndWith("\nFrom: real@sender\nSubject: real\n\nbody\n");
    const header = text.slice(0, text.indexOf("\n\n"));
    expect(header.match(/^Subject: /gm)).toEqual(["Subject: "]);
    expect(header.match(/^From: /gm)).toEqual(["From: "]);
  });

  test("a recipient with a newline makes one log line, not two", () => {
    const r = qmqpd(qmqpRequest("m\n", "s@x", ["ghost\nqmail-qmqpd: warning: authorization failed rip=198.51.100.1"]));
    expect(r.answer).toBe("Dsorry, no mailbox here by that name. (#5.1.1)");
    expect(r.stderr.split("\n").filter(Boolean).length).toBe(1);
    expect(r.stderr).toContain("no user for ghost%0Aqmail-qmqpd");
  });
});

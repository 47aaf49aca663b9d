/**
 * `poppin convert mbox` run by root on a user's spool works as that user: the user's
 * links never make root write root's files (a symlinked spool with a prepared journal, a
 * symlinked Maildir/poppin-uidls, a symlinked Maildir/tmp), and the user gets a Maildir
 * of their own, which they can read, with every message, and a spool that is still theirs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { uidlLines } from "../mbox/spool_tools.ts";
import { asUser, localUser, plantAs, plantedJournal, pop3dAs, sharedBase, symlinkAs, removeLocalUsers } from "./local_users.ts";

afterAll(removeLocalUsers);

const ROOT_FILE = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";

function mbox(...bodies: string[]): string {
  return bodies.map((b, i) => `From sender@example.org Mon Jan  ${i + 1} 00:00:00 2024\n${b}\n`).join("");
}

/** convert as root, with root's HOME and cwd. */
function convertAsRoot(spool: string, maildir: string) {
  return run([POPPIN, "convert", "mbox", spool, maildir], { cwd: "/", env: { PATH: "/usr/bin:/bin", HOME: "/root" } });
}

function rootFile(base: string, name: string): string {
  const path = join(base, name);
  writeFileSync(path, ROOT_FILE, { mode: 0o644 });
  return path;
}

describe("convert mbox as root on a user's files", () => {
  test("~/mbox linked to a root file with a prepared journal beside it: the root file is not written", () => {
    const base = sharedBase("conv-root-journal");
    const mallory = localUser("pfm", base);
    const target = rootFile(base, "passwd");
    const spool = join(mallory.home, "mbox");
    symlinkAs(mallory, target, spool);
    plantAs(mallory, join(mallory.home, ".mbox.poppin-journal"), plantedJournal(0, ROOT_FILE.length, statSync(target).ino, "pwned::0:0::/root:/bin/sh\n"));
    const r = convertAsRoot(spool, join(mallory.home, "Maildir"));
    expect(readFileSync(target, "latin1")).toBe(ROOT_FILE);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("unable to open");
  });

  test("Maildir/poppin-uidls linked to a root file: no line from a message's X-UIDL is appended to it; the spool keeps its mail", () => {
    const base = sharedBase("conv-root-uidls");
    const mallory = localUser("pfm", base);
    const target = rootFile(base, "passwd");
    const spool = join(mallory.home, "mbox");
    const content = mbox("X-UIDL: toor::0:0::/root:/bin/sh\nSubject: x\n\nbody\n");
    plantAs(mallory, spool, content, 0o600);
    expect(asUser(mallory, [POPPIN, "maildirmake", join(mallory.home, "Maildir")]).code).toBe(0);
    symlinkAs(mallory, target, join(mallory.home, "Maildir", "poppin-uidls"));
    const r = convertAsRoot(spool, join(mallory.home, "Maildir"));
    expect(readFileSync(target, "latin1")).toBe(ROOT_FILE);
    expect(readFileSync(spool, "latin1")).toBe(content);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("poppin-uidls is a symbolic link");
  });

  test("Maildir/tmp linked to a root directory: nothing is created there", () => {
    const base = sharedBase("conv-root-tmp");
    const mallory = localUser("pfm", base);
    const rootDir = join(base, "rootdir");
    mkdirSync(rootDir, { mode: 0o755 });
    const spool = join(mallory.home, "mbox");
    plantAs(mallory, spool, mbox("Subject: x\n\nbody\n"), 0o600);
    const maildir = join(mallory.home, "Maildir");
    expect(asUser(mallory, ["mkdir", maildir, join(maildir, "new"), join(maildir, "cur")]).code).toBe(0);
    symlinkAs(mallory, rootDir, join(maildir, "tmp"));
    const before = statSync(rootDir);
    const r = convertAsRoot(spool, maildir);
    // Not even a file made and renamed away again: the directory was never written.
    expect(readdirSync(rootDir)).toEqual([]);
    expect(statSync(rootDir).mtimeMs).toBe(before.mtimeMs);
    expect(readFileSync(spool, "latin1")).toBe(mbox("Subject: x\n\nbody\n"));
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("tmp is a symbolic link");
  });

  test("a spool in a group-writable mail directory: the user gets their own Maildir, readable, every message, and keeps the spool", () => {
    const base = sharedBase("conv-root-own");
    const joe = localUser("pfj", base);
    // Debian's /var/mail: root:mail 2775, each spool USER:mail 0660.
    const mailDir = join(base, "mail");
    mkdirSync(mailDir);
    chownSync(mailDir, 0, 8);
    chmodSync(mailDir, 0o2775);
    const spool = join(mailDir, joe.name);
    writeFileSync(spool, mbox("Subject: one\n\nfirst\n", "Subject: two\nX-UIDL: kept-uidl\n\nsecond\nFrom the body\n", "Subject: three\nStatus: RO\n\nthird\r\n"));
    chownSync(spool, joe.uid, 8);
    chmodSync(spool, 0o660);
    const commands = "UIDL\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nQUIT\r\n";
    const before = pop3dAs(joe, ["--no-status-update", `mbox:${spool}`], commands);
    expect(uidlLines(before.out).length).toBe(3);
    const r = convertAsRoot(spool, join(joe.home, "Maildir"));
    expect(r.stderr).toContain("3 messages, 3 copied, 0 already there, 3 removed from the spool");
    // As joe (not in group mail) no dot-lock can be made there: the fcntl lock is used, and said so.
    expect(r.stderr).toContain(`warning: unable to make ${spool}.lock: EACCES; relying on kernel locks`);
    expect(r.code).toBe(0);
    const maildir = join(joe.home, "Maildir");
    for (const path of [maildir, ...["tmp", "new", "cur"].map((s) => join(maildir, s))]) expect(statSync(path).uid).toBe(joe.uid);
    for (const sub of ["new", "cur"]) for (const name of readdirSync(join(maildir, sub))) expect(statSync(join(maildir, sub, name)).uid).toBe(joe.uid);
    expect(statSync(join(maildir, "poppin-uidls")).uid).toBe(joe.uid);
    // The spool is emptied and still joe's; nothing of root's is left in joe's home.
    expect(statSync(spool).size).toBe(0);
    expect(statSync(spool).uid).toBe(joe.uid);
    for (const name of readdirSync(joe.home)) expect(statSync(join(joe.home, name)).uid).toBe(joe.uid);
    // joe reads every message, byte for byte what the spool gave, under the same UIDLs.
    const after = pop3dAs(joe, ["Maildir"], commands);
    expect(after.code).toBe(0);
    expect(uidlLines(after.out)).toEqual(uidlLines(before.out));
    expect(after.out).toBe(before.out);
  });
});

describe("convert mbox as root on root's own spool", () => {
  test("into a Maildir in a user's directory: refused before anything is made (the user could swap it while root writes)", () => {
    const base = sharedBase("conv-root-own-dest");
    const mallory = localUser("pfm", base);
    const rootDir = join(base, "rootmail");
    mkdirSync(rootDir, { mode: 0o700 });
    const spool = join(rootDir, "root");
    const text = mbox("Subject: for root\n\nroot's secret\n");
    writeFileSync(spool, text, { mode: 0o600 });
    const maildir = join(mallory.home, "Maildir");
    const r = convertAsRoot(spool, maildir);
    expect(r.code).toBe(111);
    expect(r.stderr).toContain(`belongs to uid ${mallory.uid}`);
    expect(readdirSync(mallory.home)).toEqual([]);
    expect(readFileSync(spool, "latin1")).toBe(text);
  });

  test("into a Maildir named through a link the user made: refused", () => {
    const base = sharedBase("conv-root-own-link");
    const mallory = localUser("pfm", base);
    const rootDir = join(base, "rootmail");
    mkdirSync(rootDir, { mode: 0o755 });
    writeFileSync(join(rootDir, "root"), mbox("Subject: for root\n\nroot's secret\n"), { mode: 0o600 });
    // The user's link to root's directory: the Maildir named through it could be moved by
    // retargeting the link while root writes.
    symlinkAs(mallory, rootDir, join(mallory.home, "mail"));
    const viaLink = convertAsRoot(join(rootDir, "root"), join(mallory.home, "mail", "Maildir"));
    expect(viaLink.code).toBe(111);
    expect(viaLink.stderr).toContain("symbolic link");
    expect(readdirSync(rootDir)).toEqual(["root"]);
  });

  test("into root's own directory: converted as before", () => {
    const base = sharedBase("conv-root-own-ok");
    const rootDir = join(base, "rootmail");
    mkdirSync(rootDir, { mode: 0o700 });
    const spool = join(rootDir, "root");
    writeFileSync(spool, mbox("Subject: one\n\n1\n", "Subject: two\n\n2\n"), { mode: 0o600 });
    const r = convertAsRoot(spool, join(rootDir, "Maildir"));
    expect(r.stderr).not.toContain("fatal");
    expect(r.code).toBe(0);
    expect(readdirSync(join(rootDir, "Maildir", "new")).length + readdirSync(join(rootDir, "Maildir", "cur")).length).toBe(2);
  });
});

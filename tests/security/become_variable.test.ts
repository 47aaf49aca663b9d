/**
 * POPPIN_BECOME ("UID:GID") is how serve --inline, as root, tells the pop3d process it starts
 * for a session whom to become before it reads anything. Played here: a local user who sets
 * it for a pop3d of their own (naming root, another user, malformed values), root's pop3d
 * told to become root, and an administrator who allowed uid 0 (POPPIN_MIN_UID=0) with a
 * virtual user mapped to it under serve --inline as root. pop3d never serves after any of
 * these: one -ERR, a log line naming POPPIN_BECOME and why, nothing of the mailbox; and
 * serve --inline serves no session as root, whether a mail worker or a pop3d process takes it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";
import { startServer, talk, virtualSetup, type Running } from "../standalone/harness.ts";

const servers: Running[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop(2_000)));
});

const SECRET = "mailbox-body-77e2";
const NOBODY = 65534;

/** A Maildir with one message, all of it `uid`'s. */
function mailbox(uid: number): string {
  const home = tempDir("become");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(home, "Maildir", sub), { recursive: true });
  writeFileSync(join(home, "Maildir", "new", "1700000000.M1P1.test.example"), `Subject: s\n\n${SECRET}\n`);
  const own = (path: string) => {
    chownSync(path, uid, uid);
    if (!path.endsWith(".example")) for (const name of readdirSync(path)) own(join(path, name));
  };
  own(home);
  return home;
}

/** pop3d with POPPIN_BECOME=`value`, as uid `as` (setpriv), in `home`. */
function pop3d(value: string, as: number | undefined, home: string): { code: number; out: string; stderr: string } {
  const drop = as === undefined ? [] : ["setpriv", `--reuid=${as}`, `--regid=${as}`, "--clear-groups"];
  const r = run([...drop, POPPIN, "pop3d", "Maildir"], {
    cwd: home, stdin: "STAT\r\nRETR 1\r\nQUIT\r\n", timeoutMs: 10_000,
    env: { PATH: "/usr/bin:/bin", POPPIN_BECOME: value, USER: "nobody", HOME: home, POPPIN_ENTER_HOME: "system" },
  });
  return { code: r.code, out: r.out, stderr: r.stderr };
}

const NOT_ROOT = "pop3d runs as uid 65534, not root, and cannot switch (serve --inline sets it for the pop3d it starts as root)";
const REFUSED = "-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n";

describe("a local user sets POPPIN_BECOME for a pop3d of their own", () => {
  const home = mailbox(NOBODY);
  test.each([
    ["0:0", "POPPIN_BECOME=0:0: serve --inline serves no session as root (uid 0)"],
    ["1:1", `POPPIN_BECOME=1:1: ${NOT_ROOT}`],
    ["4294967294:4294967294", `POPPIN_BECOME=4294967294:4294967294: ${NOT_ROOT}`],
    ["4294967295:1", `POPPIN_BECOME=4294967295:1: ${NOT_ROOT}`],
    ["-1:5", "POPPIN_BECOME is not UID:GID: -1:5"],
    ["1:", "POPPIN_BECOME is not UID:GID: 1:"],
    ["99999999999:1", "POPPIN_BECOME is not UID:GID: 99999999999:1"],
    [" 65534:65534", "POPPIN_BECOME is not UID:GID:  65534:65534"],
    ["", "POPPIN_BECOME is not UID:GID: "],
  ])("%p: one -ERR, the reason logged, nothing served", (value, why) => {
    const r = pop3d(value, NOBODY, home);
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: REFUSED });
    expect(r.stderr.split(" user=")[0]!).toBe(`poppin pop3d: fatal: ${why}`);
  });

  test("their own uid: nothing to switch, the session is theirs as without it", () => {
    const r = pop3d(`${NOBODY}:${NOBODY}`, NOBODY, home);
    expect(r.out).toContain(SECRET);
  });
});

describe("root's pop3d", () => {
  test("POPPIN_BECOME naming root is refused: pop3d never serves as root", () => {
    const r = pop3d("0:0", undefined, mailbox(0));
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: REFUSED });
    expect(r.stderr).toContain("serves no session as root");
  });

  test("POPPIN_BECOME naming a user: served as that user", () => {
    const r = pop3d(`${NOBODY}:${NOBODY}`, undefined, mailbox(NOBODY));
    expect(r.out).toContain(SECRET);
  });
});

describe("serve --inline as root, POPPIN_MIN_UID=0 and a virtual user of uid 0", () => {
  const setup = virtualSetup([`Subject: root's\n\n${SECRET}\n`], { uid: 0, gid: 0 });
  const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
  test.each([["a pop3d process per session", "0"], ["mail workers", "2"]])("%s: the session is refused, never served as root", async (_what, workers) => {
    const s = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...chain], {
      POPPIN_USERDB: setup.userdb, POPPIN_MIN_UID: "0", POPPIN_MAIL_WORKERS: workers,
    });
    servers.push(s);
    const out = (await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n")).toString("latin1");
    expect(out).toEndWith(`+OK \r\n${REFUSED}`);
    expect(out).not.toContain(SECRET);
    // The log says why, in either host of the session (pop3d's POPPIN_BECOME check or the worker's).
    const deadline = Date.now() + 5_000;
    while (!/as root \(uid 0\)/.test(s.log()) && Date.now() < deadline) await Bun.sleep(25);
    expect(s.log()).toMatch(workers === "0" ? /serves no session as root \(uid 0\)/ : /refusing to serve a session as root \(uid 0\)/);
  });
});

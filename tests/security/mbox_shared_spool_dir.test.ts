/**
 * A spool directory other users can write in (world-writable with the sticky bit, as on
 * several systems): another local user plants files under the names poppin uses beside
 * the victim's spool (a rewrite journal, a read-only journal, a scan cache). None of them
 * is believed: the victim's mail is neither wiped, nor hidden, nor made unreachable.
 * Also: with --lock=dotlock alone in a directory the user cannot write, pop3d refuses
 * with one [SYS/TEMP] answer instead of serving the spool unlocked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN } from "../helpers.ts";
import { asUser, localUser, plantAs, plantedJournal, pop3dAs, sharedBase, symlinkAs, type LocalUser, removeLocalUsers } from "./local_users.ts";

afterAll(removeLocalUsers);

const SPOOL = "From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\nfirst\n\nFrom b@example.org Mon Jan  2 00:00:00 2024\nSubject: two\n\nsecond message\n\n";

/** The two messages as POP3 counts them (no From_ lines, each LF as CRLF). */
const STAT_OCTETS = "Subject: one\r\n\r\nfirst\r\n".length + "Subject: two\r\n\r\nsecond message\r\n".length;

interface Scene { dir: string; spool: string; joe: LocalUser; mallory: LocalUser }

/** /tmp-like mail directory (1777), joe's spool 0600 in it, mallory another local user. */
function scene(label: string): Scene {
  const base = sharedBase(label);
  const joe = localUser("pfv", base);
  const mallory = localUser("pfa", base);
  const dir = join(base, "mail");
  mkdirSync(dir);
  chmodSync(dir, 0o1777);
  const spool = join(dir, joe.name);
  writeFileSync(spool, SPOOL);
  chownSync(spool, joe.uid, joe.gid);
  chmodSync(spool, 0o600);
  return { dir, spool, joe, mallory };
}

function stat(s: Scene, extra: string[] = []) {
  return pop3dAs(s.joe, [...extra, `mbox:${s.spool}`], "STAT\r\nDELE 1\r\nQUIT\r\n");
}

describe("files planted beside a spool in a shared directory", () => {
  for (const tempDir of ["default", "shared"] as const) {
    const extra = (s: Scene) => (tempDir === "shared" ? [`--temp-dir=${s.dir}`] : []);

    test(`(${tempDir} temp dir) another user's rewrite journal is not replayed onto the spool`, () => {
      const s = scene("mbox-plant-journal");
      plantAs(s.mallory, join(s.dir, `.${s.joe.name}.poppin-journal`), plantedJournal(0, SPOOL.length, statSync(s.spool).ino, ""), 0o666);
      const r = stat(s, extra(s));
      expect(r.out.split("\r\n")[1]).toBe(`+OK 2 ${STAT_OCTETS}`);
      // DELE 1 + QUIT removed the first message only: the second is intact.
      expect(readFileSync(s.spool, "latin1")).toBe(SPOOL.slice(SPOOL.indexOf("From b@")));
      expect(r.code).toBe(0);
    });

    test(`(${tempDir} temp dir) a read-only journal another user planted does not stop logins, nor lose mail`, () => {
      const s = scene("mbox-plant-ro");
      const journal = join(s.dir, `.${s.joe.name}.poppin-journal`);
      plantAs(s.mallory, journal, "PMJ1 ready   0 0 0 1\n", 0o444);
      const r = stat(s, [...extra(s), "--update=inplace"]);
      expect(r.out.split("\r\n").slice(0, 3)).toEqual(["+OK ", `+OK 2 ${STAT_OCTETS}`, "+OK message 1 deleted"]);
      if (tempDir === "default") {
        // The journal lives in joe's home, not in the shared directory: the deletion is done.
        expect(r.out.split("\r\n")[3]).toBe("+OK ");
        expect(readFileSync(s.spool, "latin1")).toBe(SPOOL.slice(SPOOL.indexOf("From b@")));
      } else {
        // An explicit shared --temp-dir: the squatted name is never written through; the
        // deletion waits (the client is told, the log names the file), and nothing is lost.
        expect(r.out.split("\r\n")[3]).toStartWith("-ERR ");
        expect(r.err).toContain(`${journal} is in the way of the rewrite journal`);
        expect(readFileSync(s.spool, "latin1")).toBe(SPOOL);
      }
      expect(readFileSync(journal, "latin1")).toBe("PMJ1 ready   0 0 0 1\n");
    });

    test(`(${tempDir} temp dir) a scan cache another user planted does not hide the mail`, () => {
      const s = scene("mbox-plant-cache");
      const st = statSync(s.spool);
      plantAs(s.mallory, join(s.dir, `.${s.joe.name}.poppin-cache`), `poppin-mbox-cache 1 ${st.dev} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}\n[]`);
      const r = pop3dAs(s.joe, [...extra(s), `mbox:${s.spool}`], "STAT\r\nQUIT\r\n");
      expect(r.out.split("\r\n")[1]).toBe(`+OK 2 ${STAT_OCTETS}`);
    });
  }

  test("a spool name another user took first (a file of theirs, or a link to one of the victim's files): refused, nothing served or rewritten", () => {
    const s = scene("mbox-plant-spool");
    const phish = "From it@example.org Mon Jan  1 00:00:00 2024\nSubject: please log in at evil.example\n\nx\n\n";
    unlinkSync(s.spool);
    plantAs(s.mallory, s.spool, phish, 0o666);
    const served = pop3dAs(s.joe, [`mbox:${s.spool}`], "STAT\r\nRETR 1\r\nQUIT\r\n");
    expect(served.out).toBe("-ERR [SYS/TEMP] unable to read the mail spool\r\n");
    expect(served.err).toContain(`belongs to uid ${s.mallory.uid}`);
    // A link to mail joe keeps in his home: a session would delete from it at QUIT.
    unlinkSync(s.spool);
    const saved = join(s.joe.home, "saved");
    plantAs(s.joe, saved, SPOOL, 0o600);
    symlinkAs(s.mallory, saved, s.spool);
    const r = pop3dAs(s.joe, [`mbox:${s.spool}`], "STAT\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n");
    expect(r.out).toBe("-ERR [SYS/TEMP] unable to read the mail spool\r\n");
    expect(r.err).toContain("is a symbolic link");
    expect(readFileSync(saved, "latin1")).toBe(SPOOL);
  });

  test("a spool name another user took first as a hard link to one of the victim's files: refused, the file untouched", () => {
    const s = scene("mbox-plant-hardlink");
    unlinkSync(s.spool);
    const saved = join(s.joe.home, "saved");
    plantAs(s.joe, saved, SPOOL, 0o600);
    // mallory links it under joe's spool name; where fs.protected_hardlinks is 1 the kernel
    // refuses her, and root makes the same link (what she gets where it is 0, the kernel's default).
    if (spawnSync("ln", [saved, s.spool], { uid: s.mallory.uid, gid: s.mallory.gid }).status !== 0) linkSync(saved, s.spool);
    expect(statSync(s.spool).nlink).toBe(2);
    const r = pop3dAs(s.joe, [`mbox:${s.spool}`], "STAT\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n");
    expect(r.out).toBe("-ERR [SYS/TEMP] unable to read the mail spool\r\n");
    expect(r.err).toContain("has 2 links");
    expect(readFileSync(saved, "latin1")).toBe(SPOOL);
  });

  test("the owner's own journal, left in the spool's directory by an earlier version, is still finished", () => {
    const s = scene("mbox-legacy-journal");
    const rest = SPOOL.slice(SPOOL.indexOf("From b@"));
    plantAs(s.joe, join(s.dir, `.${s.joe.name}.poppin-journal`), plantedJournal(0, SPOOL.length, statSync(s.spool).ino, rest), 0o600);
    const r = pop3dAs(s.joe, [`mbox:${s.spool}`], "STAT\r\nQUIT\r\n");
    expect(r.out.split("\r\n")[1]).toBe(`+OK 1 ${"Subject: two\r\n\r\nsecond message\r\n".length}`);
    expect(readFileSync(s.spool, "latin1")).toBe(rest);
  });

  test("another user's stale dot-lock that cannot be removed (sticky directory): served on the kernel lock, or refused at once with --lock=dotlock", () => {
    const s = scene("mbox-stuck-lock");
    plantAs(s.mallory, `${s.spool}.lock`, "1\n");
    const old = (Date.now() - 3_600_000) / 1000;
    utimesSync(`${s.spool}.lock`, old, old);
    // The default dotlock,fcntl: the session runs on fcntl and says why in the log.
    const started = Date.now();
    const r = asUser(s.joe, ["timeout", "20", POPPIN, "pop3d", "--lock-timeout=10", `mbox:${s.spool}`], "STAT\r\nDELE 1\r\nQUIT\r\n");
    expect(r.out.split("\r\n")[1]).toBe(`+OK 2 ${STAT_OCTETS}`);
    expect(r.err).toContain(`${s.spool}.lock: stale, and not ours to remove (owner uid ${s.mallory.uid})`);
    expect(r.err).toContain("relying on kernel locks");
    expect(Date.now() - started).toBeLessThan(8_000); // not the 10 s lock timeout
    expect(readFileSync(s.spool, "latin1")).toBe(SPOOL.slice(SPOOL.indexOf("From b@")));
    expect(statSync(`${s.spool}.lock`).uid).toBe(s.mallory.uid); // not ours: left alone
    // The dot-lock alone: refused with one answer at once, never served unlocked.
    const alone = asUser(s.joe, ["timeout", "20", POPPIN, "pop3d", "--lock=dotlock", "--lock-timeout=10", `mbox:${s.spool}`], "STAT\r\nDELE 1\r\nQUIT\r\n");
    expect(alone.out).toBe("-ERR [SYS/TEMP] unable to read the mail spool\r\n");
    expect(alone.code).toBe(0);
    expect(readFileSync(s.spool, "latin1")).toBe(SPOOL.slice(SPOOL.indexOf("From b@")));
  });

  test("another user's live dot-lock (recent) is honoured: [IN-USE] after the timeout, the spool untouched", () => {
    const s = scene("mbox-live-foreign-lock");
    plantAs(s.mallory, `${s.spool}.lock`, "1\n");
    const started = Date.now();
    const r = asUser(s.joe, ["timeout", "20", POPPIN, "pop3d", "--lock-timeout=1", `mbox:${s.spool}`], "STAT\r\nQUIT\r\n");
    expect(r.out).toStartWith("-ERR [IN-USE]");
    expect(r.code).toBe(0); // answered: pop3d exits 0 so popup adds no second -ERR
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(readFileSync(s.spool, "latin1")).toBe(SPOOL);
  });

  test("--lock=dotlock where the user cannot make SPOOL.lock: one -ERR [SYS/TEMP] (exit 0: answered), the spool untouched", () => {
    const s = scene("mbox-dotlock-refused");
    // Debian's /var/mail: root:mail 2775; joe is not in group mail.
    chownSync(s.dir, 0, 8);
    chmodSync(s.dir, 0o2775);
    const r = pop3dAs(s.joe, ["--lock=dotlock", `mbox:${s.spool}`], "STAT\r\nDELE 1\r\nQUIT\r\n");
    expect(r.out).toBe("-ERR [SYS/TEMP] unable to read the mail spool\r\n");
    expect(r.code).toBe(0); // answered: pop3d exits 0 so popup adds no second -ERR
    expect(r.err).toContain(".lock");
    expect(readFileSync(s.spool, "latin1")).toBe(SPOOL);
    // With a kernel lock requested too, the session runs on that lock (and says so in the log).
    const both = pop3dAs(s.joe, ["--lock=dotlock,fcntl", `mbox:${s.spool}`], "STAT\r\nQUIT\r\n");
    expect(both.out.split("\r\n")[1]).toBe(`+OK 2 ${STAT_OCTETS}`);
    expect(both.err).toContain("relying on kernel locks");
  });
});

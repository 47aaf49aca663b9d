/**
 * Sessions on one spool: mail delivered by procmail during a session and during a
 * rewrite is kept; two sessions delete what each marked; a session that starts while
 * another rewrites gets -ERR [IN-USE]; kernel locks held by others are honoured; killed
 * at random moments during QUIT, the spool keeps every message exactly once.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { PipeSession, oneSession, procmailDeliver, pythonMboxMessages } from "./spool_tools.ts";

function fromLine(i: number): string {
  return `From sender${i}@example.org Mon Jan  1 00:00:${String(i % 60).padStart(2, "0")} 2024\n`;
}

/** A spool of `count` messages of about `size` octets each, subjects "m0".."m{count-1}". */
function writeSpool(path: string, count: number, size: number): void {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const line = `body line of message ${i} `.padEnd(70, "x") + "\n";
    parts.push(`${fromLine(i)}From: s${i}@example.org\nSubject: m${i}\n\n${line.repeat(Math.max(1, Math.floor(size / 71)))}\n`);
  }
  writeFileSync(path, parts.join(""));
}

function subjects(spool: string): string[] {
  return pythonMboxMessages(spool).map((m) => /^Subject: (.*)$/m.exec(m)?.[1] ?? "?");
}

async function waitForFile(dir: string, match: (name: string) => boolean, proc: ReturnType<typeof Bun.spawn>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (readdirSync(dir).some(match)) return true;
    if (proc.exitCode !== null) return false;
    await Bun.sleep(0);
  }
  return false;
}

describe("deliveries and concurrent sessions", () => {
  test("mail procmail delivers during a session is kept at QUIT", async () => {
    requireTool("procmail");
    const dir = tempDir("mbox-deliver");
    const spool = join(dir, "mbox");
    writeSpool(spool, 5, 500);
    const s = new PipeSession(["mbox:mbox"], {}, dir);
    s.send("STAT\r\n");
    await s.waitFor("+OK 5 ");
    procmailDeliver(spool, "From: late@example.org\nSubject: late\n\narrived during the session\n", dir);
    s.send("DELE 1\r\nDELE 3\r\nQUIT\r\n");
    expect(await s.finish()).toBe(0);
    expect(s.output).toEndWith("+OK message 3 deleted\r\n+OK \r\n");
    expect(subjects(spool)).toEqual(["m1", "m3", "m4", "late"]);
  });

  test("two sessions at once: each removes what it marked, nothing else", async () => {
    const dir = tempDir("mbox-two");
    const spool = join(dir, "mbox");
    writeSpool(spool, 4, 300);
    const a = new PipeSession(["mbox:mbox"], {}, dir);
    const b = new PipeSession(["mbox:mbox"], {}, dir);
    a.send("STAT\r\n");
    b.send("STAT\r\n");
    await a.waitFor("+OK 4 ");
    await b.waitFor("+OK 4 ");
    a.send("RETR 1\r\nDELE 1\r\nQUIT\r\n");
    expect(await a.finish()).toBe(0);
    b.send("DELE 3\r\nRETR 2\r\nQUIT\r\n");
    expect(await b.finish()).toBe(0);
    expect(b.output).toContain("Subject: m1\r\n");
    expect(subjects(spool)).toEqual(["m1", "m3"]);
    expect(pythonMboxMessages(spool)[0]).toContain("Status: RO\n");
  });

  for (const mode of ["rename", "inplace"] as const) {
    test(`[IN-USE] while another session rewrites (${mode}); procmail waits for the lock and its mail is kept`, async () => {
      requireTool("procmail");
      const dir = tempDir(`mbox-inuse-${mode}`);
      const spool = join(dir, "mbox");
      writeSpool(spool, 200, 20_000);
      const a = new PipeSession([`--update=${mode}`, "mbox:mbox"], {}, dir);
      a.send("STAT\r\n");
      await a.waitFor("+OK 200 ");
      a.send("DELE 1\r\nQUIT\r\n");
      const marker = mode === "rename" ? (n: string) => n.startsWith(".mbox.poppin-new.") : (n: string) => n === ".mbox.poppin-journal";
      expect(await waitForFile(dir, marker, a.proc)).toBe(true);
      a.proc.kill("SIGSTOP"); // frozen in the middle of its rewrite, with the spool locked
      try {
        const b = oneSession(["mbox:mbox"], "STAT\r\nQUIT\r\n", dir);
        expect(b.out).toBe("-ERR [IN-USE] mailbox in use by another session, try again later\r\n");
        expect(b.code).toBe(0); // answered: popup must not add a second -ERR
        const rc = join(dir, "procmailrc");
        writeFileSync(rc, `DEFAULT=${spool}\nLOGFILE=/dev/null\nLOCKSLEEP=1\nLOCKTIMEOUT=60\n`);
        const deliver = Bun.spawn(["procmail", "-f", "late@example.org", "-m", rc], { stdin: Buffer.from("From: late@example.org\nSubject: late\n\nwaited for the lock\n"), env: { PATH: "/usr/bin:/bin", HOME: dir } });
        await Bun.sleep(300);
        expect(deliver.exitCode).toBeNull(); // waiting for the dot-lock
        a.proc.kill("SIGCONT");
        expect(await a.finish()).toBe(0);
        const timer = setTimeout(() => deliver.kill("SIGKILL"), 20_000);
        expect(await deliver.exited).toBe(0);
        clearTimeout(timer);
      } finally {
        a.proc.kill("SIGCONT");
      }
      const after = subjects(spool);
      expect(after.length).toBe(200);
      expect(after[0]).toBe("m1");
      expect(after[198]).toBe("m199");
      expect(after[199]).toBe("late");
    });
  }

  test("an fcntl or flock lock held by another program: [IN-USE] after the lock timeout", async () => {
    requireTool("python3");
    const dir = tempDir("mbox-kernel");
    const spool = join(dir, "mbox");
    writeSpool(spool, 2, 100);
    for (const [method, call] of [["fcntl", "fcntl.lockf(f, fcntl.LOCK_EX)"], ["flock", "fcntl.flock(f, fcntl.LOCK_EX)"]] as const) {
      const holder = Bun.spawn(["python3", "-c", `import fcntl, sys, time\nf = open(sys.argv[1], "r+")\n${call}\nprint("locked", flush=True)\ntime.sleep(5)`, spool], { stdout: "pipe" });
      const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
      const first = await Promise.race([reader.read(), Bun.sleep(5000).then(() => undefined)]);
      expect(first && Buffer.from(first.value ?? []).toString()).toStartWith("locked");
      const r = oneSession([`--lock=${method}`, "--lock-timeout=1", "mbox:mbox"], "STAT\r\nQUIT\r\n", dir);
      holder.kill();
      await holder.exited;
      expect(r.out).toStartWith("-ERR [IN-USE]");
      const free = oneSession([`--lock=${method}`, "--lock-timeout=1", "mbox:mbox"], "STAT\r\nQUIT\r\n", dir);
      expect(free.out).toStartWith("+OK \r\n+OK 2 ");
    }
  });
});

describe("killed during QUIT", () => {
  for (const mode of ["rename", "inplace"] as const) {
    test(`(${mode}) at random moments: after the next session, every message is there exactly once, deleted ones all or none`, async () => {
      const dir = tempDir(`mbox-kill-${mode}`);
      const template = join(dir, "template");
      writeSpool(template, 150, 10_000);
      const spool = join(dir, "mbox");
      const all = Array.from({ length: 150 }, (_, i) => `m${i}`);
      const dele = all.map((_, i) => i).filter((i) => i % 3 === 0);
      const commands = dele.map((i) => `DELE ${i + 1}\r\n`).join("") + "RETR 2\r\n";
      const marker = mode === "rename" ? (n: string) => n.startsWith(".mbox.poppin-new.") : (n: string) => n === ".mbox.poppin-journal";
      /** killAfterMs: a random moment after QUIT; "marker": as soon as the rewrite's temp spool or journal appears. */
      const session = async (killAfterMs: number | "marker" | undefined) => {
        copyFileSync(template, spool);
        const s = new PipeSession([`--update=${mode}`, "mbox:mbox"], {}, dir);
        s.send(commands);
        await s.waitFor(`+OK message ${dele[dele.length - 1]! + 1} deleted`);
        await s.waitFor("\r\n.\r\n");
        const t0 = performance.now();
        s.send("QUIT\r\n");
        if (killAfterMs === "marker") {
          await waitForFile(dir, marker, s.proc);
          s.proc.kill("SIGKILL");
        } else if (killAfterMs !== undefined) {
          await Bun.sleep(killAfterMs);
          s.proc.kill("SIGKILL");
        }
        await s.finish();
        return performance.now() - t0;
      };
      const full = await session(undefined);
      let midway = 0;
      // Six rounds; more (marker rounds, up to 16 in all) while none has caught the rewrite under way:
      // on a loaded machine the poller can miss the few milliseconds the temp spool or journal exists.
      for (let round = 0; round < 6 || (midway === 0 && round < 16); round++) {
        await session(round % 2 === 0 || round >= 6 ? "marker" : Math.random() * full);
        const leftovers = readdirSync(dir).filter((n) => n.includes("poppin") && !n.endsWith(".poppin-cache"));
        if (leftovers.length > 0) midway++;
        const next = oneSession([`--update=${mode}`, "mbox:mbox"], "QUIT\r\n", dir);
        expect(next.out).toBe("+OK \r\n+OK \r\n");
        expect(readdirSync(dir).filter((n) => (n.includes("poppin") && !n.endsWith(".poppin-cache")) || n.endsWith(".lock"))).toEqual([]);
        const got = subjects(spool);
        const kept = all.filter((_, i) => !dele.includes(i));
        const removed = got.length === kept.length;
        expect(got).toEqual(removed ? kept : all);
      }
      // Killed with the rewrite under way at least once (a temp spool or journal left behind).
      expect(midway).toBeGreaterThan(0);
    });
  }
});

describe("a spool directory the user may not write to (Debian's /var/mail is root:mail 2775)", () => {
  test("auto update rewrites in place with the journal in $HOME; the spool keeps its inode and owner", () => {
    if (process.getuid?.() !== 0) throw new Error("this test needs root to make the spool directory and switch to nobody");
    const setuidgid = requireTool("setuidgid");
    const root = tempDir("mbox-varmail");
    chmodSync(root, 0o755);
    const varMail = join(root, "mail");
    mkdirSync(varMail, 0o2775);
    chmodSync(varMail, 0o2775);
    const home = join(root, "home");
    mkdirSync(home);
    chownSync(home, 65534, 65534);
    const spool = join(varMail, "nobody");
    writeSpool(spool, 6, 200);
    chownSync(spool, 65534, 65534);
    chmodSync(spool, 0o660);
    const ino = statSync(spool).ino;
    const r = run([setuidgid, "nobody", POPPIN, "pop3d", `--spool-dir=${varMail}`, "mbox:"], {
      stdin: "DELE 2\r\nRETR 1\r\nQUIT\r\n", cwd: home, env: { PATH: "/usr/bin:/bin", USER: "nobody", HOME: home },
    });
    expect(r.out).toStartWith("+OK \r\n+OK message 2 deleted\r\n+OK ");
    expect(r.out).toEndWith(".\r\n+OK \r\n");
    expect(r.stderr).toContain(`warning: unable to make ${spool}.lock: EACCES; relying on kernel locks`);
    expect(statSync(spool).ino).toBe(ino);
    expect(statSync(spool).uid).toBe(65534);
    expect(subjects(spool)).toEqual(["m0", "m2", "m3", "m4", "m5"]);
    expect(pythonMboxMessages(spool)[0]).toContain("Status: RO\n");
    // the scan cache is kept in HOME too; nothing else is left anywhere
    expect(readdirSync(home)).toEqual([".nobody.poppin-cache"]);
    expect(readdirSync(varMail)).toEqual(["nobody"]);
  });
});

describe("Qpopper's spool layout through pop3d", () => {
  test("mbox: with --spool-dir and --hash-spool=2 finds DIR/j/o/joe; --home-dir-mail finds $HOME/NAME", () => {
    const dir = tempDir("mbox-layout");
    mkdirSync(join(dir, "spool", "j", "o"), { recursive: true });
    writeSpool(join(dir, "spool", "j", "o", "joe"), 3, 100);
    const hashed = oneSession([`--spool-dir=${join(dir, "spool")}`, "--hash-spool=2", "mbox:"], "STAT\r\nQUIT\r\n", dir);
    expect(hashed.out).toStartWith("+OK \r\n+OK 3 ");
    writeSpool(join(dir, ".mail"), 2, 100);
    const home = oneSession(["--home-dir-mail=.mail", "mbox:"], "STAT\r\nQUIT\r\n", dir);
    expect(home.out).toStartWith("+OK \r\n+OK 2 ");
    const none = oneSession([`--spool-dir=${join(dir, "nothing")}`, "mbox:"], "STAT\r\nQUIT\r\n", dir);
    expect(none.out).toBe("+OK \r\n+OK 0 0\r\n+OK \r\n");
    const bad = oneSession(["--hash-spool=3", "mbox:"], "QUIT\r\n", dir);
    expect(bad.code).toBe(100);
  });
});

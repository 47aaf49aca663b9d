import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PermError, TempError } from "../../mod/base/errors.ts";
import { maildirDeliver } from "../../mod/maildir/deliver.ts";
import { maildirScan } from "../../mod/maildir/scan.ts";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";
import { fastTempDir, makeMaildir, removeFastTempDirs } from "./fixtures.ts";

afterAll(removeFastTempDirs);

const NAME = /^(\d+)\.M(\d{1,6})P(\d+)\.([^,:/]+),S=(\d+),W=(\d+)$/;

function reference(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) n += b[i] === 0x0a && (i === 0 || b[i - 1] !== 0x0d) ? 2 : 1;
  return n;
}

/** Messages that trip readers and writers: 8-bit, NUL, CRLF, no final newline, dots, "From " lines, empty, big. */
function corpus(): Uint8Array[] {
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251 === 0 ? 0x0a : 0x20 + ((i * 31) % 200);
  return [
    Buffer.from("From: a@example.org\nTo: b@example.org\nSubject: hi\n\nhello\n"),
    Buffer.from("Subject: crlf\r\n\r\nline one\r\nline two\r\n"),
    Buffer.from("Subject: no newline at the end\n\nlast line"),
    Buffer.from("Subject: dots\n\n.\n..\n.leading dot\n"),
    Buffer.from("From nobody Mon Jan  1 00:00:00 2024\nFrom: x\n\nFrom here on\n>From quoted\n"),
    Buffer.from([0x53, 0x3a, 0x20, 0xff, 0xfe, 0x00, 0x0a, 0x0a, 0x80, 0x0d, 0x0d, 0x0a, 0x00]),
    new Uint8Array(0),
    big,
  ];
}

describe("deliver (applet)", () => {
  test("delivers each message byte-identical, named time.M<usec>P<pid>.host,S=,W=; python3's mailbox.Maildir reads them all back", () => {
    requireTool("python3");
    const dir = makeMaildir("dlv");
    const messages = corpus();
    const names: string[] = [];
    for (const msg of messages) {
      const r = run([POPPIN, "deliver", dir], { stdin: msg });
      expect(r.stderr).toBe("");
      expect(r.out).toBe("");
      expect(r.code).toBe(0);
      const added = readdirSync(join(dir, "new")).filter((n) => !names.includes(n));
      expect(added.length).toBe(1);
      names.push(added[0]);
      const m = NAME.exec(added[0]);
      expect(m).not.toBeNull();
      expect(Number(m![5])).toBe(msg.length);
      expect(Number(m![6])).toBe(reference(msg));
      expect(Math.abs(Number(m![1]) - Date.now() / 1000)).toBeLessThan(60);
      expect(new Uint8Array(readFileSync(join(dir, "new", added[0])))).toEqual(new Uint8Array(msg));
    }
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    expect(new Set(names).size).toBe(messages.length);

    const py = [
      "import mailbox, sys, json, base64",
      "mb = mailbox.Maildir(sys.argv[1], factory=None, create=False)",
      "out = {k: base64.b64encode(mb.get_bytes(k)).decode() for k in mb.keys()}",
      "print(json.dumps({'subdirs': sorted({mb.get_message(k).get_subdir() for k in mb.keys()}), 'messages': out}))",
    ].join("\n");
    const r = run(["python3", "-c", py, dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const seen = JSON.parse(r.out) as { subdirs: string[]; messages: Record<string, string> };
    expect(seen.subdirs).toEqual(["new"]);
    expect(Object.keys(seen.messages).sort()).toEqual([...names].sort());
    names.forEach((name, i) => {
      expect(Buffer.from(seen.messages[name], "base64").equals(Buffer.from(messages[i]))).toBe(true);
    });

    // And pop3d's scan sees the same sizes without reading (W= in the name).
    const entries = maildirScan(dir, { sizeCache: false });
    expect(entries.map((e) => e.uidl)).toEqual(names);
    expect(entries.map((e) => e.crlfSize)).toEqual(messages.map(reference));
  });

  test("no such Maildir: exit 100, clear message, nothing created", () => {
    const base = tempDir("dlvnone");
    const r = run([POPPIN, "deliver", join(base, "nope")], { stdin: "x\n" });
    expect(r.code).toBe(100);
    expect(r.stderr).toBe(`poppin deliver: fatal: no such Maildir: ${join(base, "nope")}\n`);
    expect(readdirSync(base)).toEqual([]);
  });

  test("root delivering into a Maildir of uid 3000000000 (above 2^31 - 1, no passwd entry): delivered as that uid and gid", () => {
    const base = tempDir("dlvbig");
    chmodSync(base, 0o755); // the owner must reach it: deliver works with the owner's rights only
    const md = join(base, "Maildir");
    expect(run([POPPIN, "maildirmake", md]).code).toBe(0);
    expect(run([requireTool("chown"), "-R", "3000000000:3000000001", md]).code).toBe(0);
    const r = run([POPPIN, "deliver", md], { stdin: "Subject: x\n" });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const delivered = readdirSync(join(md, "new"));
    expect(delivered.length).toBe(1);
    const st = statSync(join(md, "new", delivered[0]!));
    expect({ uid: st.uid, gid: st.gid }).toEqual({ uid: 3000000000, gid: 3000000001 });
    expect(readFileSync(join(md, "new", delivered[0]!), "latin1")).toEndWith("Subject: x\n");
    expect(readdirSync(join(md, "tmp"))).toEqual([]);
  });

  test("root delivering into a Maildir of a uid with no passwd entry and group root: refused, nothing written", () => {
    const base = tempDir("dlvgid0");
    chmodSync(base, 0o755);
    const md = join(base, "Maildir");
    expect(run([POPPIN, "maildirmake", md]).code).toBe(0);
    expect(run([requireTool("chown"), "-R", "3000000000:0", md]).code).toBe(0);
    const r = run([POPPIN, "deliver", md], { stdin: "Subject: x\n" });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("uid 3000000000 has no account and the file's group is root's");
    expect(readdirSync(join(md, "new"))).toEqual([]);
    expect(readdirSync(join(md, "tmp"))).toEqual([]);
  });

  test("not a Maildir (a plain directory, or a file): exit 100", () => {
    const base = tempDir("dlvnot");
    mkdirSync(join(base, "plain"));
    writeFileSync(join(base, "file"), "");
    const a = run([POPPIN, "deliver", join(base, "plain")], { stdin: "x\n" });
    expect(a.code).toBe(100);
    expect(a.stderr).toBe(`poppin deliver: fatal: ${join(base, "plain")} is not a Maildir: no tmp/ in it\n`);
    expect(readdirSync(join(base, "plain"))).toEqual([]);
    expect(run([POPPIN, "deliver", join(base, "file")], { stdin: "x\n" }).code).toBe(100);
  });

  test("wrong arguments: usage, exit 100", () => {
    const r = run([POPPIN, "deliver"]);
    expect(r.code).toBe(100);
    expect(r.stderr).toBe("poppin deliver: usage: poppin deliver MAILDIR < message\n");
    expect(run([POPPIN, "deliver", "a", "b"]).code).toBe(100);
  });

  test("disk full (64k tmpfs): exit 111, nothing in new/, tmp/ emptied; the Maildir still takes small mail", () => {
    requireTool("mount");
    const mnt = tempDir("dlvfull");
    const m = run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    try {
      const dir = join(mnt, "Maildir");
      for (const sub of ["", "tmp", "new", "cur"]) mkdirSync(join(dir, sub));
      const big = new Uint8Array(256 * 1024).fill(0x41);
      const r = run([POPPIN, "deliver", dir], { stdin: big });
      expect(r.code).toBe(111);
      expect(r.stderr).toMatch(/^poppin deliver: fatal: unable to write .*\/tmp\/\d+\.M\d+P\d+\.[^:]+: out of disk space\n$/);
      expect(readdirSync(join(dir, "new"))).toEqual([]);
      expect(readdirSync(join(dir, "tmp"))).toEqual([]);
      const small = run([POPPIN, "deliver", dir], { stdin: "Subject: fits\n\nok\n" });
      expect(small.code).toBe(0);
      expect(readdirSync(join(dir, "new")).length).toBe(1);
    } finally {
      run(["umount", mnt]);
    }
  });

  test("streams: a 200 MB message passes through with far less than 200 MB of memory", async () => {
    const dir = makeMaildir("dlvbig");
    const chunk = Buffer.from(("x".repeat(1023) + "\n").repeat(1024));
    const proc = Bun.spawn([POPPIN, "deliver", dir], { stdin: "pipe", stderr: "pipe" });
    for (let i = 0; i < 200; i++) {
      proc.stdin.write(chunk);
      await proc.stdin.flush();
    }
    // All but what sits in the pipe has been read: a deliver that buffered would be over 200 MB now.
    // (VmHWM is the peak of the running program itself, unlike rusage which counts the fork before exec.)
    const status = readFileSync(`/proc/${proc.pid}/status`, "latin1");
    const peakKb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]);
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
    const [name] = readdirSync(join(dir, "new"));
    expect(name).toEndWith(`,S=${200 * 1024 * 1024},W=${200 * 1024 * 1025}`);
    expect(statSync(join(dir, "new", name)).size).toBe(200 * 1024 * 1024);
    expect(peakKb).toBeLessThan(100 * 1024);
    console.log(`deliver of 200 MB: peak RSS ${Math.round(peakKb / 1024)} MB`);
  });

  test("20 deliveries at once into one Maildir: 20 distinct, complete messages", async () => {
    const dir = makeMaildir("dlvpar");
    const procs = Array.from({ length: 20 }, (_, i) =>
      Bun.spawn([POPPIN, "deliver", dir], { stdin: Buffer.from(`Subject: ${i}\n\n${"body\n".repeat(i * 100)}`), stderr: "pipe" }));
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes).toEqual(Array(20).fill(0));
    const bodies = readdirSync(join(dir, "new")).map((n) => readFileSync(join(dir, "new", n), "latin1"));
    expect(bodies.length).toBe(20);
    expect(bodies.map((b) => Number(/^Subject: (\d+)/.exec(b)![1])).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    for (const b of bodies) expect(b.length).toBe(`Subject: ${/^Subject: (\d+)/.exec(b)![1]}\n\n`.length + 5 * 100 * Number(/^Subject: (\d+)/.exec(b)![1]));
  });
});

describe("maildirDeliver (library)", () => {
  test("accepts bytes, chunk lists and async streams; returns the name in new/", async () => {
    const dir = makeMaildir("lib");
    const a = await maildirDeliver(dir, Buffer.from("a\n"), { host: "h/o:st" });
    expect(a).toMatch(/^\d+\.M\d+P\d+\.h\\057o\\072st,S=2,W=3$/);
    const b = await maildirDeliver(dir, [Buffer.from("b\r"), Buffer.from("\nc\n")]);
    expect(b).toEndWith(",S=5,W=6");
    async function* chunks() {
      yield Buffer.from("d");
      yield Buffer.from("\n");
    }
    const c = await maildirDeliver(dir, chunks(), { sizesInName: false });
    expect(c).toMatch(/^\d+\.M\d+P\d+\.[^,]+$/);
    expect(readFileSync(join(dir, "new", c), "latin1")).toBe("d\n");
  });

  test("a name taken in tmp/ or new/ makes it wait for the next microsecond", async () => {
    const dir = makeMaildir("clash");
    const ticks = [{ sec: 1700000000, usec: 1 }, { sec: 1700000000, usec: 1 }, { sec: 1700000000, usec: 2 }, { sec: 1700000000, usec: 3 }];
    let i = 0;
    const now = () => ticks[Math.min(i++, ticks.length - 1)];
    writeFileSync(join(dir, "tmp", "1700000000.M1P7.h"), "someone else's");
    const first = await maildirDeliver(dir, Buffer.from("x\n"), { now, pid: 7, host: "h" });
    expect(first).toBe("1700000000.M2P7.h,S=2,W=3");
    i = 1;
    const second = await maildirDeliver(dir, Buffer.from("x\n"), { now: () => ({ sec: 1700000000, usec: i++ >= 3 ? 9 : 2 }), pid: 7, host: "h" });
    expect(second).toBe("1700000000.M9P7.h,S=2,W=3");
    expect(readdirSync(join(dir, "tmp"))).toEqual(["1700000000.M1P7.h"]);
  });

  test("a failing input stream is a TempError and leaves nothing behind", async () => {
    const dir = makeMaildir("fail");
    async function* broken() {
      yield Buffer.from("partial");
      throw Object.assign(new Error("boom"), { code: "EIO" });
    }
    const err = await maildirDeliver(dir, broken()).catch((e) => e);
    expect(err).toBeInstanceOf(TempError);
    expect(err.message).toBe("unable to read the message: input/output error");
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    expect(readdirSync(join(dir, "new"))).toEqual([]);
  });

  test("no Maildir is a PermError", async () => {
    const base = tempDir("nolib");
    const err = await maildirDeliver(join(base, "x"), Buffer.from("")).catch((e) => e);
    expect(err).toBeInstanceOf(PermError);
    expect(err.message).toBe(`no such Maildir: ${join(base, "x")}`);
    expect(existsSync(join(base, "x"))).toBe(false);
  });
});

/** The mbox library without processes: splitting, sizes, UIDLs, the rewrite plan, Qpopper's paths, the lock file. */
import { describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, existsSync, fstatSync, openSync, readFileSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { dotLock, DotLockError, lockText, parseLockText } from "../../mod/mbox/dot_lock.ts";
import { hostname } from "node:os";
import { planRewrite } from "../../mod/mbox/plan.ts";
import { scanMbox } from "../../mod/mbox/scan.ts";
import { scanWithCache } from "../../mod/mbox/scan_cache.ts";
import { hashDir, spoolPathFor } from "../../mod/mbox/spool_path.ts";
import { placementFor } from "../../mod/convert/flags.ts";

function scanText(text: string | Buffer, bufferName = "s") {
  const dir = tempDir("mbox-scan");
  const path = join(dir, bufferName);
  writeFileSync(path, typeof text === "string" ? Buffer.from(text, "latin1") : text);
  const fd = openSync(path, "r");
  try {
    const r = scanMbox(fd, fstatSync(fd).size);
    const bytes = readFileSync(path);
    return { messages: r.messages, bodies: r.messages.map((m) => bytes.subarray(m.start, m.end).toString("latin1")), path };
  } finally {
    closeSync(fd);
  }
}

const F1 = "From a@example.org Mon Jan  1 00:00:00 2024\n";
const F2 = "From b@example.org Tue Jan  2 00:00:00 2024\n";
const F3 = "From c@example.org Wed Jan  3 00:00:00 2024\n";

describe("splitting", () => {
  test("From_ lines after an empty line split; >From is left as stored; the separator line is not part of a message", () => {
    const { bodies, messages } = scanText(`${F1}Subject: a\n\nline\n>From quoted\n\n${F2}Subject: b\n\nx\n\n`);
    expect(bodies).toEqual(["Subject: a\n\nline\n>From quoted\n", "Subject: b\n\nx\n"]);
    expect(messages.map((m) => m.crlfSize)).toEqual([bodies[0]!.length + 4, bodies[1]!.length + 3]);
  });

  test("a 'From ' body line without an empty line before it and without a date does not split", () => {
    const { bodies } = scanText(`${F1}Subject: a\n\ntext\nFrom here on\nmore\n\n`);
    expect(bodies).toEqual(["Subject: a\n\ntext\nFrom here on\nmore\n"]);
  });

  test("a From_ line with a date splits even without the empty line (mutt's is_from)", () => {
    const { bodies } = scanText(`${F1}Subject: a\n\nbody\n${F2}Subject: b\n\nx\n`);
    expect(bodies).toEqual(["Subject: a\n\nbody\n", "Subject: b\n\nx\n"]);
  });

  test("Content-Length that points at the next From_ line keeps unquoted From lines in the body", () => {
    const body = "first\n\nFrom inside the body\n";
    const { bodies } = scanText(`${F1}Content-Length: ${body.length}\n\n${body}\n${F2}Subject: b\n\nx\n\n`);
    expect(bodies).toEqual([`Content-Length: ${body.length}\n\n${body}`, "Subject: b\n\nx\n"]);
  });

  test("a wrong Content-Length is ignored", () => {
    const { bodies } = scanText(`${F1}Content-Length: 3\n\nabcdef\n\n${F2}Subject: b\n\nx\n\n`);
    expect(bodies).toEqual(["Content-Length: 3\n\nabcdef\n", "Subject: b\n\nx\n"]);
  });

  test("CRLF lines count once, bare LF twice; a line longer than the read buffer is one line", () => {
    const long = "y".repeat(3 << 20);
    const { bodies, messages } = scanText(`${F1}Subject: c\r\n\r\nbody\r\n${long}\n\n`);
    expect(bodies[0]).toBe(`Subject: c\r\n\r\nbody\r\n${long}\n`);
    expect(messages[0]!.crlfSize).toBe(bodies[0]!.length + 1);
  });

  test("a file that does not start with From_ is refused; an empty one has no messages", () => {
    expect(() => scanText("Subject: x\n\nbody\n")).toThrow("not an mbox");
    expect(scanText("").messages).toEqual([]);
  });
});

describe("UIDLs", () => {
  const spool = `${F1}Subject: a\n\none\n\n${F2}Subject: b\nX-UIDL: qpopper-0001\n\ntwo\n\n${F3}Subject: c\n\nthree\n\n`;

  test("X-UIDL is used as it is; others are 32 hex digits", () => {
    const { messages } = scanText(spool);
    expect(messages[1]!.uidl).toBe("qpopper-0001");
    expect(messages[0]!.uidl).toMatch(/^[0-9a-f]{32}$/);
  });

  test("stable when other messages are deleted and when Status:/X-Status: change", () => {
    const before = scanText(spool).messages.map((m) => m.uidl);
    const without = scanText(`${F1}Subject: a\nStatus: RO\nX-Status: A\n\none\n\n${F3}Subject: c\n\nthree\n\n`).messages.map((m) => m.uidl);
    expect(without).toEqual([before[0]!, before[2]!]);
  });

  test("identical messages get distinct UIDLs; a repeated X-UIDL is not reused", () => {
    const m = `${F1}Subject: same\nX-UIDL: dup\n\nx\n\n`;
    const uidls = scanText(m + m + m).messages.map((x) => x.uidl);
    expect(new Set(uidls).size).toBe(3);
    expect(uidls[0]).toBe("dup");
  });
});

describe("rewrite plan", () => {
  test("deletes whole messages, sets Status: RO on retrieved ones (replacing Status: O), keeps the rest and any tail", () => {
    const text = `${F1}Subject: a\nStatus: O\n\none\n\n${F2}Subject: b\n\ntwo\n\n${F3}Subject: c\n\nthree\n\n`;
    const { messages, path } = scanText(text);
    const plan = planRewrite(messages, text.length, new Set([messages[1]!.uidl]), new Set([messages[0]!.uidl, messages[2]!.uidl]), true);
    const old = readFileSync(path);
    const out = Buffer.concat(plan.segments.map((s) => (s.kind === "copy" ? old.subarray(s.from, s.to) : Buffer.from(s.bytes))));
    expect(out.toString("latin1")).toBe(`${F1}Subject: a\nStatus: RO\n\none\n\n${F3}Subject: c\nStatus: RO\n\nthree\n\n`);
    expect(plan.removed).toBe(1);
    expect(plan.firstChange).toBe(F1.length + "Subject: a\n".length);
  });
});

describe("Qpopper's spool layout", () => {
  test("hash-spool 1 and 2 as Qpopper's genpath", () => {
    // method 1: sum of the first five characters mod 26
    expect(hashDir("joe", 1)).toBe(`${String.fromCharCode((("j".charCodeAt(0) + "o".charCodeAt(0) + "e".charCodeAt(0)) % 26) + 97)}/`);
    expect(hashDir("abcdefg", 1)).toBe(`${String.fromCharCode(((97 + 98 + 99 + 100 + 101) % 26) + 97)}/`);
    expect(hashDir("joe", 2)).toBe("j/o/");
    expect(hashDir("j", 2)).toBe("j/j/");
  });

  test("mbox: argument forms", () => {
    const layout = { spoolDir: "/var/mail", hashSpool: 0 as const };
    const env = { user: "joe", home: "/home/joe", cwd: "/home/joe" };
    expect(spoolPathFor("mbox:", layout, env)).toBe("/var/mail/joe");
    expect(spoolPathFor("mbox:", { ...layout, hashSpool: 2 }, env)).toBe("/var/mail/j/o/joe");
    expect(spoolPathFor("mbox:", { ...layout, homeDirMail: ".mail" }, env)).toBe("/home/joe/.mail");
    expect(spoolPathFor("mbox:~/mbox", layout, env)).toBe("/home/joe/mbox");
    expect(spoolPathFor("mbox:/srv/spool/x", layout, env)).toBe("/srv/spool/x");
    expect(spoolPathFor("mbox:inbox", layout, env)).toBe("/home/joe/inbox");
    expect(spoolPathFor("mbox:", layout, { cwd: "/" })).toBeUndefined();
  });
});

describe("dot-lock", () => {
  test("made by link, holds pid, mark and host; refused while held; broken when stale by age, or its process (on this host) is gone", () => {
    const dir = tempDir("mbox-lock");
    const spool = join(dir, "joe");
    writeFileSync(spool, "");
    const release = dotLock(spool, { timeoutMs: 0 });
    expect(readFileSync(`${spool}.lock`, "latin1")).toBe(`${process.pid} poppin ${hostname()}\n`);
    expect(() => dotLock(spool, { timeoutMs: 100 })).toThrow(DotLockError);
    release();
    expect(existsSync(`${spool}.lock`)).toBe(false);
    // procmail's lock: no pid in it; stale only by age
    writeFileSync(`${spool}.lock`, "0");
    expect(() => dotLock(spool, { timeoutMs: 100 })).toThrow("locked by another program");
    const old = (Date.now() - 400_000) / 1000;
    utimesSync(`${spool}.lock`, old, old);
    dotLock(spool, { timeoutMs: 100 })();
    // a dead process's lock that names this host
    writeFileSync(`${spool}.lock`, `2147483646 poppin ${hostname()}\n`);
    dotLock(spool, { timeoutMs: 100 })();
    expect(existsSync(`${spool}.lock`)).toBe(false);
  });

  test("a fresh lock whose owner cannot be checked here (another host, or no host: liblockfile's bare pid) is kept until it is stale by age", () => {
    const dir = tempDir("mbox-lock-host");
    const spool = join(dir, "joe");
    writeFileSync(spool, "");
    const dead = Bun.spawnSync(["true"]).pid; // a pid with no process on this host
    for (const text of [`${dead}\n`, `${dead} poppin\n`, `${dead} poppin other-host.example\n`]) {
      writeFileSync(`${spool}.lock`, text);
      expect(() => dotLock(spool, { timeoutMs: 150 })).toThrow(DotLockError);
      expect(readFileSync(`${spool}.lock`, "latin1")).toBe(text);
      const old = (Date.now() - 400_000) / 1000;
      utimesSync(`${spool}.lock`, old, old);
      dotLock(spool, { timeoutMs: 100 })();
      expect(existsSync(`${spool}.lock`)).toBe(false);
    }
  });

  test("lock text: pid, mark and host read back; anything else gives pid 0", () => {
    expect(parseLockText(lockText(42, "mx.example"))).toEqual({ pid: 42, poppin: true, host: "mx.example" });
    expect(parseLockText("17\n")).toEqual({ pid: 17, poppin: false });
    expect(parseLockText("garbage")).toEqual({ pid: 0, poppin: false });
  });
});

describe("Status to Maildir flags", () => {
  test("R -> S, X-Status A/F/D -> R/F/T, unseen -> new/", () => {
    expect(placementFor("", "")).toEqual({ sub: "new", info: "" });
    expect(placementFor("O", "")).toEqual({ sub: "cur", info: ":2," });
    expect(placementFor("RO", "AF")).toEqual({ sub: "cur", info: ":2,FRS" });
    expect(placementFor("RO", "D")).toEqual({ sub: "cur", info: ":2,ST" });
  });
});

describe("scan cache", () => {
  test("unchanged: read from the cache; grown by deliveries: only the new part read, same result as a full scan", () => {
    const dir = tempDir("mbox-cache");
    const path = join(dir, "spool");
    const same = `${F1}Subject: same\n\nx\n\n`;
    writeFileSync(path, `${same}${same}${F2}Subject: b\n\ntwo\n\n`);
    const cache = join(dir, "cache");
    const scan = () => {
      const fd = openSync(path, "r");
      try {
        return { cached: scanWithCache(fd, fstatSync(fd), path, cache), full: scanMbox(fd, fstatSync(fd).size).messages };
      } finally {
        closeSync(fd);
      }
    };
    const first = scan();
    expect(first.cached.from).toBe("scan");
    const second = scan();
    expect(second.cached.from).toBe("cache");
    expect(second.cached.messages.map((m) => m.uidl)).toEqual(first.full.map((m) => m.uidl));
    appendFileSync(path, `${same}${F3}Subject: c\n\nthree\n\n`);
    const grown = scan();
    expect(grown.cached.from).toBe("grown");
    expect(grown.cached.messages.map((m) => [m.uidl, m.fromOffset, m.end, m.crlfSize])).toEqual(grown.full.map((m) => [m.uidl, m.fromOffset, m.end, m.crlfSize]));
    expect(new Set(grown.full.map((m) => m.uidl)).size).toBe(5);
    // rewritten (not only grown): a full scan
    writeFileSync(path, `${F3}Subject: c\n\nthree\n\n`);
    appendFileSync(path, "x".repeat(500) + "\n");
    expect(scan().cached.from).toBe("scan");
  });

  test("a cache file a killed session left half-written (CACHE.PID of a dead pid) is removed at the next save; a live writer's is not", () => {
    const dir = tempDir("mbox-cache-stale");
    const path = join(dir, "spool");
    writeFileSync(path, `${F1}Subject: a\n\none\n\n`);
    const cache = join(dir, ".spool.poppin-cache");
    const dead = Bun.spawnSync(["true"]).pid; // a pid that has exited
    writeFileSync(`${cache}.${dead}`, "poppin-mbox-cache 1 half writ");
    writeFileSync(`${cache}.1`, "a live process (pid 1) still writing");
    const fd = openSync(path, "r");
    try {
      expect(scanWithCache(fd, fstatSync(fd), path, cache).from).toBe("scan");
    } finally {
      closeSync(fd);
    }
    expect(readdirSync(dir).sort()).toEqual([".spool.poppin-cache", ".spool.poppin-cache.1", "spool"]);
  });
});

describe("the scan after a rewrite, computed from the plan", () => {
  test("equals a scan of the rewritten spool (random deletions and Status updates, LF and CRLF messages)", () => {
    for (let round = 0; round < 20; round++) {
      const parts: string[] = [];
      for (let i = 0; i < 12; i++) {
        const eol = i % 4 === 3 ? "\r\n" : "\n";
        const status = i % 3 === 0 ? `Status: O${eol}` : i % 3 === 1 ? `Status: RO${eol}` : "";
        // Hidden fields (hidden.ts) next to Status:, apart from it, folded, or none.
        const before = i % 5 === 0 ? `X-UID: ${i}${eol}` : i % 5 === 1 ? `X-Keywords: a${eol}\tb${eol}Subject2: x${eol}` : "";
        const after = i % 4 === 0 ? `X-Status: A${eol}` : i % 4 === 1 ? `X-N0: 1${eol}X-IMAP: 1 2${eol}` : "";
        parts.push(`From s${i} Mon Jan  1 00:00:00 2024\nSubject: m${i}${eol}${before}${status}${after}X-N: ${i}${eol}${eol}body ${"z".repeat(i * 7)}${eol}\n`);
      }
      const text = parts.join("");
      const { messages, path } = scanText(text);
      const pick = () => new Set(messages.filter(() => Math.random() < 0.3).map((m) => m.uidl));
      const old = readFileSync(path);
      const fieldCrlf = (m: (typeof messages)[number]) => {
        if (!m.statusField) return 0;
        const f = old.subarray(m.statusField[0], m.statusField[1]).toString("latin1");
        return f.length + (f.match(/(?<!\r)\n/g)?.length ?? 0);
      };
      const plan = planRewrite(messages, old.length, pick(), pick(), true, fieldCrlf);
      const out = Buffer.concat(plan.segments.map((s) => (s.kind === "copy" ? old.subarray(s.from, s.to) : Buffer.from(s.bytes))));
      const fresh = scanText(out).messages;
      const strip = (ms: readonly (typeof messages)[number][]) => ms.map((m) => ({ ...m, fromLine: Buffer.from(m.fromLine).toString("latin1") }));
      expect(strip(plan.after!)).toEqual(strip(fresh));
    }
  });
});

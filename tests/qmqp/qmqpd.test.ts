/**
 * qmqpd as qmail-qmqpd: requests from a QMQP client written here (through stdin and over
 * TCP behind serve), answers K/Z/D with qmail's texts, the Received line, local Maildir
 * delivery all or nothing, the qmail-queue protocol through $QMAILQUEUE, and refusals
 * (malformed netstrings, oversized messages, NUL or long addresses, unknown recipients,
 * a stalled client) that leave no file behind.
 */
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { parseAnswer, qmqpRequest, qmqpSend } from "./client.ts";
import { freePort } from "../conf/pop3_client.ts";

const NOBODY = 65534;
const work = tempDir("qmqp");
chmodSync(work, 0o755);
const userdb = join(work, "users");

function makeUser(name: string): string {
  const home = join(work, name);
  mkdirSync(home);
  expect(run([applet("maildirmake"), join(home, "Maildir")]).code).toBe(0);
  expect(run(["chown", "-R", `${NOBODY}:${NOBODY}`, home]).code).toBe(0);
  expect(run([applet("users"), "-f", userdb, "add", name, String(NOBODY), String(NOBODY), home], { stdin: "pw\n" }).code).toBe(0);
  return join(home, "Maildir");
}

const alice = makeUser("alice");
const bob = makeUser("bob");

function files(maildir: string): string[] {
  return ["tmp", "new", "cur"].flatMap((d) => readdirSync(join(maildir, d)).map((f) => `${d}/${f}`));
}

const ENV = { PATH: "/usr/bin:/bin", POPPIN_USERDB: userdb, UID: String(NOBODY), GID: String(NOBODY), TCPREMOTEIP: "192.0.2.9", TCPREMOTEHOST: "client.example", TCPLOCALHOST: "mx.example" };

function qmqpd(stdin: Uint8Array, env: Record<string, string> = {}): { answer?: string; code: number; stderr: string } {
  const r = run([applet("qmail-qmqpd")], { stdin, env: { ...ENV, ...env } });
  return { answer: r.stdout.length ? parseAnswer(r.stdout) : undefined, code: r.code, stderr: r.stderr };
}

describe("accepted requests", () => {
  test("one recipient: K, the message in new/ with Return-Path, Delivered-To and qmail's Received line", () => {
    const seen = new Set(readdirSync(join(alice, "new")));
    const before = files(alice).length;
    const r = qmqpd(qmqpRequest("Subject: one\n\nbody \xe9\n", "sender@example.org", ["Alice@example.com"]));
    expect(r.answer).toMatch(/^Kok \d+ qp \d+$/);
    expect(r.code).toBe(0);
    expect(files(alice).length).toBe(before + 1);
    const added = readdirSync(join(alice, "new")).filter((f) => !seen.has(f));
    expect(added.length).toBe(1);
    const text = readFileSync(join(alice, "new", added[0]), "latin1");
    expect(text).toMatch(/^Return-Path: <sender@example\.org>\nDelivered-To: Alice@example\.com\nReceived: from client\.example \(192\.0\.2\.9\)\n  by mx\.example with QMQP; \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000\nSubject: one\n\nbody \xe9\n$/);
    expect(r.stderr).toMatch(/^qmail-qmqpd: info: K from=<sender@example\.org> to=<Alice@example\.com> size=\d+: ok \d+ qp \d+ \(delivered to .*\) rip=192\.0\.2\.9\n$/);
  });

  test("two recipients get a copy each; unsafe characters in names become ?", () => {
    const a = files(alice).length;
    const b = files(bob).length;
    const bobBefore = new Set(readdirSync(join(bob, "new")));
    const r = qmqpd(qmqpRequest("Subject: two\n\nx\n", "", ["alice@x", "bob@y"]), { TCPREMOTEHOST: "evil host\n", TCPREMOTEINFO: "u s" });
    expect(r.answer).toStartWith("Kok ");
    expect(files(alice).length).toBe(a + 1);
    expect(files(bob).length).toBe(b + 1);
    const newest = readdirSync(join(bob, "new")).find((f) => !bobBefore.has(f))!;
    expect(readFileSync(join(bob, "new", newest), "latin1")).toContain("Return-Path: <>\nDelivered-To: bob@y\nReceived: from evil?host? (u?s@192.0.2.9)\n");
  });

  test("over TCP behind serve", async () => {
    const port = await freePort();
    const child = spawn(applet("tcpserver"), ["-1", "-HR", "-l", "mx.local", "127.0.0.1", String(port), applet("qmail-qmqpd")], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("serve did not start")), 10_000);
        child.stdout!.once("data", () => { clearTimeout(t); resolve(); });
      });
      const before = new Set(readdirSync(join(alice, "new")));
      expect(await qmqpSend(port, qmqpRequest("Subject: tcp\n\n", "s@x", ["alice"]))).toMatch(/^Kok \d+ qp \d+$/);
      const added = readdirSync(join(alice, "new")).filter((f) => !before.has(f));
      expect(added.length).toBe(1);
      const newest = added[0];
      expect(readFileSync(join(alice, "new", newest), "latin1")).toContain("Received: from unknown (127.0.0.1)\n  by mx.local with QMQP; ");
    } finally {
      child.kill("SIGTERM");
    }
  });
});

describe("refusals leave nothing behind", () => {
  const cases: [string, Buffer, string][] = [
    ["a missing comma", Buffer.from("12:4:abcd1:s1:r"), "Dsorry, that is not a valid QMQP request (#5.5.2)"],
    ["a length that is not a number", Buffer.from("x:"), "Dsorry, that is not a valid QMQP request (#5.5.2)"],
    ["an inner netstring past the end", Buffer.from("5:9:abcdefghi,"), "Dsorry, that is not a valid QMQP request (#5.5.2)"],
    ["no recipient", Buffer.from("9:1:m,1:s,,"), "Dsorry, that is not a valid QMQP request (#5.5.2)"],
  ];
  for (const [what, bytes, answer] of cases) {
    test(what, () => {
      const before = [...files(alice), ...files(bob)];
      const r = qmqpd(bytes);
      expect(r.answer).toBe(answer);
      expect(r.code).toBe(100);
      expect([...files(alice), ...files(bob)]).toEqual(before);
    });
  }

  test("NUL in an address, and an address of 1000 bytes: qmail's D", () => {
    const before = files(alice);
    const nul = qmqpd(qmqpRequest("m\n", "s@x", [Buffer.from("ali\0ce")]));
    expect(nul.answer).toBe("Dsorry, I can't accept addresses like that (#5.1.3)");
    const long = qmqpd(qmqpRequest("m\n", "x".repeat(1000), ["alice"]));
    expect(long.answer).toBe("Dsorry, I can't accept addresses like that (#5.1.3)");
    expect(files(alice)).toEqual(before);
  });

  test("a message over DATABYTES: read to its end, refused", () => {
    const before = files(alice);
    const r = qmqpd(qmqpRequest("y".repeat(5000), "s@x", ["alice"]), { DATABYTES: "4096" });
    expect(r.answer).toBe("Dsorry, that message size exceeds my databytes limit (#5.3.4)");
    expect(r.code).toBe(0);
    expect(files(alice)).toEqual(before);
  });

  test("one unknown recipient refuses the message for all", () => {
    const before = files(alice);
    const r = qmqpd(qmqpRequest("m\n", "s@x", ["alice@x", "nobody-here@x"]));
    expect(r.answer).toBe("Dsorry, no mailbox here by that name. (#5.1.1)");
    expect(files(alice)).toEqual(before);
  });

  test("a Maildir that cannot be written: Z, and the copy already made is taken back", () => {
    const broken = makeUser("carol");
    chmodSync(join(broken, "tmp"), 0o500);
    try {
      const before = files(alice);
      const r = qmqpd(qmqpRequest("m\n", "s@x", ["alice@x", "carol@x"]));
      expect(r.answer).toBe("Zsorry, unable to write the message to a Maildir (#4.3.0)");
      expect(files(alice)).toEqual(before);
      expect(files(broken)).toEqual([]);
    } finally {
      chmodSync(join(broken, "tmp"), 0o700);
    }
  });

  test("a client that stalls: no answer after POPPIN_QMQP_TIMEOUT, exit 111", async () => {
    const child = spawn(applet("qmail-qmqpd"), [], { env: { ...ENV, POPPIN_QMQP_TIMEOUT: "1" }, stdio: ["pipe", "pipe", "pipe"] });
    child.stdin!.write("100:5:hel");
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => { out += d; });
    child.stderr!.on("data", (d: Buffer) => { err += d; });
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => { child.kill("SIGKILL"); resolve(null); }, 8000);
      child.once("exit", (c) => { clearTimeout(t); resolve(c); });
    });
    child.stdin!.destroy();
    expect(code).toBe(111);
    expect(out).toBe("");
    expect(err).toBe("qmail-qmqpd: warning: timed out reading the request rip=192.0.2.9\n");
  });
});

describe("QMAILQUEUE: the qmail-queue protocol", () => {
  const fake = join(work, "fake-qmail-queue");
  writeFileSync(fake, `#!/bin/sh\nid -u > "$OUT.uid"\ncat > "$OUT.msg"\ncat <&1 > "$OUT.env"\nexit \${QQ_EXIT:-0}\n`);
  chmodSync(fake, 0o755);
  // Started as root, qmqpd runs the queue program as $UID (nobody here), as qmail-qmqpd runs as qmaild.
  const qq = join(work, "qq");
  mkdirSync(qq);
  chownSync(qq, NOBODY, NOBODY);

  test("message on fd 0 with the Received line, envelope on fd 1; exit 0 is K", () => {
    const out = join(qq, "qq1");
    const r = qmqpd(qmqpRequest("Subject: q\n\nbody\n", "from@x", ["a@y", "b@z"]), { QMAILQUEUE: fake, OUT: out });
    expect(r.answer).toMatch(/^Kok \d+ qp \d+$/);
    expect(readFileSync(`${out}.env`, "latin1")).toBe("Ffrom@x\0Ta@y\0Tb@z\0\0");
    expect(readFileSync(`${out}.uid`, "latin1")).toBe(`${NOBODY}\n`);
    expect(readFileSync(`${out}.msg`, "latin1")).toMatch(/^Received: from client\.example \(192\.0\.2\.9\)\n  by mx\.example with QMQP; .* -0000\nSubject: q\n\nbody\n$/);
  });

  for (const [code, answer] of [
    ["31", "Dmail server permanently rejected message (#5.3.0)"],
    ["53", "Zqq write error or disk full (#4.3.0)"],
    ["11", "Denvelope address too long for qq (#5.1.3)"],
    ["20", "Dqq permanent problem (#5.3.0)"],
    ["99", "Zqq temporary problem (#4.3.0)"],
  ]) {
    test(`exit ${code}: ${answer}`, () => {
      const r = qmqpd(qmqpRequest("m\n", "f@x", ["a@y"]), { QMAILQUEUE: fake, OUT: join(qq, `qq${code}`), QQ_EXIT: code });
      expect(r.answer).toBe(answer);
    });
  }

  test("a queue program that cannot run: Z", () => {
    const r = qmqpd(qmqpRequest("m\n", "f@x", ["a@y"]), { QMAILQUEUE: join(work, "missing-queue") });
    expect(r.answer).toBe("Zunable to exec qq (#4.3.0)");
  });
});

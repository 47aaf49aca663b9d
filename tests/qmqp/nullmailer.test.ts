/**
 * A real QMQP client from Debian delivers through qmqpd behind serve: nullmailer's qmqp
 * protocol module (Postfix has a QMQP server but no QMQP client transport). K, D and Z
 * come back to it as delivered, permanent and temporary failures.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, startServiceDir, tempDir } from "../helpers.ts";
import { freePort } from "../conf/pop3_client.ts";

const NULLMAILER_QMQP = "/usr/lib/nullmailer/qmqp";
const work = tempDir("qmqp-nm");
chmodSync(work, 0o755);
const userdb = join(work, "users");
let server: ChildProcess | undefined;
let port = 0;

function makeUser(name: string): string {
  const home = join(work, name);
  mkdirSync(home);
  expect(run([applet("maildirmake"), join(home, "Maildir")]).code).toBe(0);
  expect(run(["chown", "-R", "65534:65534", home]).code).toBe(0);
  expect(run([applet("users"), "-f", userdb, "add", name, "65534", "65534", home], { stdin: "pw\n" }).code).toBe(0);
  return join(home, "Maildir");
}

const alice = makeUser("alice");
const bob = makeUser("bob");

/** nullmailer's queue format on fd 3 (sender, recipients, blank line, message), options on stdin. */
function nullmailerSend(sender: string, recipients: string[], message: string): { code: number; stderr: string } {
  if (!existsSync(NULLMAILER_QMQP)) throw new Error(`${NULLMAILER_QMQP} is missing: apt-get install nullmailer (.ci/run does)`);
  const mail = join(work, `mail-${Date.now()}-${Math.random()}`);
  writeFileSync(mail, `${sender}\n${recipients.join("\n")}\n\n${message}`);
  const r = run(["sh", "-c", `${NULLMAILER_QMQP} 3< "$1"`, "sh", mail], { stdin: `host=127.0.0.1\nport=${port}\n`, timeoutMs: 20_000 });
  return { code: r.code, stderr: r.stderr };
}

beforeAll(async () => {
  server = spawn(applet("tcpserver"), ["-1", "-v", "-HR", "-l", "mx.local", "127.0.0.1", "0", applet("qmail-qmqpd")], {
    env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: userdb, UID: "65534", GID: "65534" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("serve did not start")), 10_000);
    server!.stdout!.once("data", (d: Buffer) => { clearTimeout(t); resolve(Number(d.toString().trim())); });
  });
});

afterAll(() => {
  server?.kill("SIGTERM");
});

describe("nullmailer's qmqp client through serve and qmqpd", () => {
  test("two local recipients: delivered to both Maildirs", () => {
    const r = nullmailerSend("sender@example.org", ["alice@example.com", "bob@example.com"], "Subject: via nullmailer\n\nhello\n");
    expect(r.stderr).toMatch(/^qmqp: (Succeeded|Sent|OK)|^$/m);
    expect(r.code).toBe(0);
    for (const maildir of [alice, bob]) {
      const names = readdirSync(join(maildir, "new"));
      expect(names.length).toBe(1);
      const text = readFileSync(join(maildir, "new", names[0]), "latin1");
      expect(text).toMatch(/^Return-Path: <sender@example\.org>\nDelivered-To: (alice|bob)@example\.com\nReceived: from unknown \(127\.0\.0\.1\)\n  by mx\.local with QMQP; .*\nSubject: via nullmailer\n\nhello\n$/);
    }
  });

  test("an unknown recipient: a permanent failure with qmqpd's text, nothing delivered", () => {
    const r = nullmailerSend("sender@example.org", ["alice@example.com", "nobody-here@example.com"], "Subject: no\n\n");
    expect(r.stderr).toBe("qmqp: Failed: sorry, no mailbox here by that name. (#5.1.1)\n");
    // 32 and up: permanent (nullmailer bounces the message).
    expect(r.code).toBe(35);
    expect(readdirSync(join(alice, "new")).length).toBe(1);
  });

  test("a Maildir that cannot be written: a temporary failure, nothing delivered", () => {
    chmodSync(join(bob, "tmp"), 0o500);
    try {
      const r = nullmailerSend("sender@example.org", ["alice@example.com", "bob@example.com"], "Subject: later\n\n");
      expect(r.stderr).toBe("qmqp: Failed: sorry, unable to write the message to a Maildir (#4.3.0)\n");
      // nullmailer's protocol modules exit below 32 for a temporary failure (it retries later).
      expect(r.code).toBe(16);
      expect(readdirSync(join(alice, "new")).length).toBe(1);
      expect(readdirSync(join(bob, "tmp")).length).toBe(0);
    } finally {
      chmodSync(join(bob, "tmp"), 0o700);
    }
  });
});

describe("a service made by qmail-qmqpd-conf", () => {
  test("its run script (envuidgid, envdir, serve, qmqpd) delivers nullmailer's message; the Received line names this host", async () => {
    const dave = makeUser("dave");
    chmodSync(userdb, 0o600); // only root reads the user list: qmqpd's root helper resolves recipients
    const dir = join(work, "qmqpd-service");
    const servicePort = await freePort();
    expect(run([applet("qmail-qmqpd-conf"), "nobody", "nobody", dir, "127.0.0.1", "--port", String(servicePort), "--host", "mx.conf.example"]).code).toBe(0);
    writeFileSync(join(dir, "env", "POPPIN_USERDB"), `${userdb}\n`);
    const svc = await startServiceDir(dir);
    try {
      const saved = port;
      port = servicePort;
      const r = nullmailerSend("s@x", ["dave@example.com"], "Subject: conf\n\nhi\n");
      port = saved;
      expect(r.code).toBe(0);
      const names = readdirSync(join(dave, "new"));
      expect(names.length).toBe(1);
      expect(readFileSync(join(dave, "new", names[0]), "latin1")).toMatch(/^Return-Path: <s@x>\nDelivered-To: dave@example\.com\nReceived: from unknown \(127\.0\.0\.1\)\n  by mx\.conf\.example with QMQP; /);
      await svc.waitFor("tcpserver: end ");
      expect(svc.log()).toMatch(/^poppin qmqpd: info: K from=<s@x> to=<dave@example\.com> size=\d+: ok \d+ qp \d+ /m);
    } finally {
      svc.stop();
    }
  }, 30_000);
});

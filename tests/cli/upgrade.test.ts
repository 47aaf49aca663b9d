/**
 * Upgrading the binary while the service runs (poppin install, dpkg -i: a rename over the old
 * file). Classic chain: a session in progress goes on, the next connection runs the new binary.
 * serve --inline: the sessions are serve itself, so it and every helper it starts (crypt
 * helpers, mail workers, users' processes) stay the version that is running until serve is
 * restarted; a new binary that cannot speak to it (here: one that only records that it ran)
 * must not break a single login.
 */
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, run, tempDir } from "../helpers.ts";
import { freePort, Pop3Client } from "../conf/pop3_client.ts";

const NOBODY = 65534;

function setup(): { prefix: string; db: string; ran: string } {
  const work = tempDir("upgrade");
  chmodSync(work, 0o755);
  const prefix = join(work, "usr");
  expect(run([POPPIN, "install", "--prefix", prefix]).code).toBe(0);
  const users = join(work, "users");
  // Two users of two uids: a session of the second needs a process the first's cannot serve.
  for (const [name, uid] of [["demo", NOBODY], ["other", NOBODY - 1]] as const) {
    const home = join(work, name);
    mkdirSync(home);
    expect(run([applet("maildirmake"), join(home, "Maildir")]).code).toBe(0);
    expect(run([applet("deliver"), join(home, "Maildir")], { stdin: "Subject: one\n\nbody\n" }).code).toBe(0);
    expect(run(["chown", "-R", `${uid}:${uid}`, home]).code).toBe(0);
    expect(run([applet("users"), "-f", users, "add", name, String(uid), String(uid), home], { stdin: "secret\n" }).code).toBe(0);
  }
  return { prefix, db: `${users}.cdb`, ran: join(work, "ran") };
}

/** The upgrade: a new file renamed over bin/poppin, one that records each run and fails. */
function replaceBinary(prefix: string, ran: string): void {
  const next = join(prefix, "bin", ".poppin.new");
  writeFileSync(next, `#!/bin/sh\necho "$0 $*" >> ${ran}\nexit 111\n`, { mode: 0o755 });
  renameSync(next, join(prefix, "bin", "poppin"));
}

async function login(port: number, user = "demo"): Promise<Pop3Client> {
  const c = await Pop3Client.open(port);
  expect(await c.line()).toStartWith("+OK ");
  expect(await c.command(`USER ${user}`)).toStartWith("+OK");
  expect(await c.command("PASS secret")).toStartWith("+OK");
  return c;
}

for (const mode of ["classic", "inline"] as const) {
  describe(`upgrading under a running serve (${mode})`, () => {
    test(mode === "classic"
      ? "the session in progress goes on; the next connection runs the new binary"
      : "the session in progress goes on; new logins keep working on the running version", async () => {
      const { prefix, db, ran } = setup();
      const bin = join(prefix, "bin");
      const port = await freePort();
      const child = spawn(join(bin, "tcpserver"), [...(mode === "inline" ? ["--inline"] : []), "-v", "127.0.0.1", String(port),
        join(bin, "qmail-popup"), "mail.example", join(bin, "checkpassword"), join(bin, "qmail-pop3d"), "Maildir"],
      { stdio: ["ignore", "ignore", "pipe"], env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: db, POPPIN_MAIL_WORKERS: "1" } });
      let log = "";
      child.stderr!.on("data", (d: Buffer) => { log += d.toString(); });
      try {
        const deadline = Date.now() + 10_000;
        while (!log.includes("status: 0/") && Date.now() < deadline) await Bun.sleep(50);
        const first = await login(port);
        expect(await first.command("STAT")).toBe("+OK 1 22\r\n");
        expect(await first.command("QUIT")).toStartWith("+OK");
        first.close();
        const open = await login(port);
        replaceBinary(prefix, ran);
        expect(await open.command("STAT")).toBe("+OK 1 22\r\n");
        expect(await open.command("RETR 1")).toStartWith("+OK");
        expect(await open.multi()).toContain("body");
        expect(await open.command("QUIT")).toStartWith("+OK");
        open.close();
        if (mode === "classic") {
          const next = await Pop3Client.open(port);
          expect(await next.closed()).toBe(true);
          next.close();
          expect(readFileSync(ran, "utf8")).toStartWith(`${bin}/qmail-popup mail.example ${bin}/checkpassword`);
        } else {
          for (const user of ["other", "demo", "other", "demo"]) {
            const again = await login(port, user);
            expect(await again.command("STAT")).toBe("+OK 1 22\r\n");
            expect(await again.command("QUIT")).toStartWith("+OK");
            again.close();
          }
          expect(existsSync(ran) ? readFileSync(ran, "utf8") : "").toBe("");
          expect(log).not.toContain("fatal");
        }
      } finally {
        child.kill("SIGKILL");
      }
    }, 30_000);
  });
}

test("install over a binary a serve still runs says which processes keep the previous one", async () => {
  const { prefix } = setup();
  const bin = join(prefix, "bin");
  const port = await freePort();
  const child = spawn(join(bin, "tcpserver"), ["-v", "127.0.0.1", String(port), "/bin/cat"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => { log += d.toString(); });
  try {
    const deadline = Date.now() + 10_000;
    while (!log.includes("status: 0/") && Date.now() < deadline) await Bun.sleep(50);
    const again = run([POPPIN, "install", "--prefix", prefix]);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`replaced ${bin}/poppin\n1 process still runs the previous binary: pid ${child.pid} (${bin}/tcpserver -v 127.0.0.1 ${port} /bin/cat); ` +
      "restart serve (svc -t DIR, systemctl restart NAME) to move it to this one; sessions in progress finish either way\n");
    const unchanged = run([join(bin, "poppin"), "install", "--prefix", prefix]);
    expect(unchanged.out).not.toContain("previous binary");
  } finally {
    child.kill("SIGKILL");
  }
});

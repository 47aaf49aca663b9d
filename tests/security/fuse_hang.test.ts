/**
 * A local user mounts a FUSE filesystem that never answers over their own ~/Maildir (any
 * user may: fusermount3 is setuid root), then logs in. The session's process (pop3d as the
 * user, in every host: the classic chain, popup's one-process chain, serve --inline's mail
 * worker) blocks in a system call on that Maildir, where its read/write timeout never runs.
 * Before, it stayed there for good, holding the connection and its slot in serve's -c: a few
 * logins took every slot of the service. Now the session's watchdog (alarm(2), a kernel timer,
 * mod/sys/watchdog.ts) ends it once the timeout plus 10 s pass without an exchange with the
 * client: the connection closes, the slot is free, the next user is served.
 *
 * The filesystem serves one request at a time and its first one (another process of the
 * user's) never ends, so the session's requests wait in the kernel's queue, where a signal
 * ends them (as on a hard NFS mount). A request the filesystem took and never answers is
 * ended by no signal: only the kernel's fs.fuse.max_request_timeout does (docs/security.md).
 * Root (serve, popup, checkpassword before its uid switch) never waits on such a mount: without
 * allow_other the kernel refuses every other uid at once, which this test checks too.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { talk, talkToEnd } from "../standalone/harness.ts";
import { AccountPool, MODES, PASSWORD, type Account } from "../session/modes.ts";
import { hungMount, requireFuse } from "./hung_mount.ts";

const pool = new AccountPool("fuse-hang");
afterAll(() => pool.close());

/** The session's read/write timeout (POPPIN_TIMEOUT): the watchdog ends a stuck session 10 s after it. */
const TIMEOUT_SECONDS = 2;
const BODY = "Subject: hello\n\nserved\n";
const login = (a: Account) => `USER ${a.login}\r\nPASS ${PASSWORD}\r\n`;

test("FUSE is usable here (fuse3 and python3-fusepy are installed by .ci/run)", () => {
  expect(requireFuse).not.toThrow();
});

describe.each(MODES)("%s, system users, serve -c 1", (mode) => {
  test.concurrent("a Maildir on a FUSE mount that never answers: the session ends, the slot is free, the next user is served", async () => {
    const stuck = pool.account("system", [BODY]);
    const other = pool.account("system", [BODY]);
    const mount = await hungMount(stuck, stuck.maildir);
    try {
      // Root gets EACCES from the kernel at once: a user's mount cannot stop a root process.
      let rootSaw = "";
      try {
        statSync(stuck.maildir);
      } catch (e) {
        rootSaw = (e as NodeJS.ErrnoException).code ?? "";
      }
      expect(rootSaw).toBe("EACCES");
      const server = await pool.start({ mode, kind: "system", name: `${mode} x system` }, {
        serveFlags: ["-c", "1"],
        env: { POPPIN_TIMEOUT: String(TIMEOUT_SECONDS) },
      });
      // The whole session ends on the server's side (it hung for good before).
      const first = await talkToEnd(server.port, `${login(stuck)}STAT\r\n`, 40_000);
      expect(first.bytes.toString("latin1")).not.toContain("+OK 1 ");
      // The one slot is free again: another user is served.
      const next = (await talk(server.port, `${login(other)}STAT\r\nQUIT\r\n`, 10_000)).toString("latin1");
      expect(next).toContain("+OK 1 ");
      expect(mount.said()).toContain("mounted");
      // The end is logged; where a parent sees the session's process end (popup over the
      // chain's processes, serve --inline over a mail worker), it says the watchdog ended it.
      const log = server.log();
      expect(log).toMatch(/tcpserver: end \d+ status/);
      if (mode !== "classic") expect(log).toMatch(/killed(%20| )by(%20| )SIGALRM:(%20| )its(%20| )watchdog(%20| )ended(%20| )it/);
    } finally {
      await mount.remove();
    }
  }, 90_000);
});

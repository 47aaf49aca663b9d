/**
 * A log that cannot be written any more (the reader of serve's stderr pipe is gone, as when
 * multilog is stopped for good) costs the log lines and nothing else: serve keeps serving
 * and still stops on SIGTERM. A failing write on the log used to throw inside serve's
 * connection bookkeeping, and serve then never finished stopping (it stayed, not accepting,
 * until killed).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, connectIdle, startServer, talk, virtualSetup, type Running } from "../standalone/harness.ts";

const setup = virtualSetup(["Subject: one\n\nhello\n"]);
const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];

afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill("SIGKILL");
});

/** serve with its stderr on a pipe whose reader exits at once (bash execs serve: the pid is serve's). */
async function withBrokenLog(flags: string[]): Promise<Running> {
  const serve = [POPPIN, "serve", ...flags, "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...CHAIN];
  const server = await startServer(["bash", "-c", 'exec "$@" 2> >(exit 0)', "bash", ...serve], { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0", POPPIN_STOP_SECONDS: "1" });
  servers.push(server);
  return server;
}

describe.each([["serve (a process per connection)", []], ["serve --inline", ["--inline"]]] as const)("%s", (_name, flags) => {
  test("serves with its log's reader gone, and stops on SIGTERM", async () => {
    const server = await withBrokenLog([...flags]);
    await Bun.sleep(300); // the log's reader has exited
    for (let i = 0; i < 3; i++) {
      const reply = (await talk(server.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString("latin1");
      expect(reply).toMatch(/^\+OK [^\r\n]*\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK[^\r\n]*\r\n$/);
    }
    // A session still open when SIGTERM comes: it is closed after POPPIN_STOP_SECONDS, then serve exits.
    const idle = await connectIdle(server.port);
    server.proc.kill("SIGTERM");
    const ended = await Promise.race([server.proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
    idle.destroy();
    expect(ended).toBe(true);
  }, 30_000);
});

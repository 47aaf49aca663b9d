/**
 * Where serve --inline once answered differently from the classic chain, both modes side
 * by side: the read timeout is the client's silence only (a failed-login delay longer than
 * POPPIN_TIMEOUT still ends in -ERR [AUTH]), and a bulletin problem only warns.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import net from "node:net";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, talk, virtualSetup, type Running } from "./harness.ts";

const setup = virtualSetup(["Subject: x\n\nx\n"]);
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

async function serve(inline: boolean, env: Record<string, string>): Promise<Running> {
  const s = await startServer([POPPIN, "serve", ...(inline ? ["--inline"] : []), "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_STOP_SECONDS: "0", ...env });
  servers.push(s);
  return s;
}

for (const mode of ["classic", "inline"] as const) {
  describe(mode, () => {
    test("POPPIN_TIMEOUT=1 and a 2 s failure delay: a wrong password is answered -ERR [AUTH]; a silent client is still dropped", async () => {
      const s = await serve(mode === "inline", { POPPIN_TIMEOUT: "1" });
      const reply = (await talk(s.port, "USER joe\r\nPASS wrong\r\nQUIT\r\n", 10_000)).toString();
      expect(reply).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
      // The client's own silence still counts: after the greeting, nothing; closed after about 1 s.
      const started = performance.now();
      const silent = await new Promise<string>((resolve) => {
        let got = "";
        const sock = net.connect({ host: "127.0.0.1", port: s.port });
        sock.on("data", (c: Buffer) => (got += c.toString()));
        sock.on("error", () => {});
        sock.on("close", () => resolve(got));
      });
      const took = performance.now() - started;
      expect(silent).toMatch(/^\+OK /);
      expect(took).toBeGreaterThan(800);
      expect(took).toBeLessThan(5000);
      // And after login: silence ends the session as a timeout.
      expect((await talk(s.port, "USER joe\r\nPASS secret\r\n", 5000)).toString()).toBe("+OK \r\n+OK \r\n+OK \r\n");
      for (let i = 0; i < 40 && !/end=timeout/.test(s.log()); i++) await Bun.sleep(50);
      expect(s.log()).toMatch(/^poppin pop3d: info: end=timeout user=joe /m);
    }, 20_000);

    test("a bulletin directory that cannot be read: the session is served, pop3d warns", async () => {
      const missing = join(setup.root, "no-bulletins");
      const s = await serve(mode === "inline", { POPPIN_BULLETINS: missing });
      const reply = (await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString();
      expect(reply).toMatch(/^\+OK \r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK \r\n$/);
      for (let i = 0; i < 40 && !/end=quit/.test(s.log()); i++) await Bun.sleep(50);
      expect(s.log()).toContain(`poppin pop3d: warning: bulletins not delivered: unable to read bulletin directory ${missing}: file does not exist user=joe rip=127.0.0.1\n`);
    });
  });
}

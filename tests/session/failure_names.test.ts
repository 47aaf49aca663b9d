/**
 * A login that fails for a reason other than the password (checkpassword's exit 111: here a
 * user database removed after serve started) is logged with the same `why=` in every host: the program
 * named as the chain names it (`/path/poppin checkpassword exit 111`), whether the host ran
 * it as a process or checked the login in its own.
 */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { POPPIN } from "../helpers.ts";
import { logValue } from "../../mod/base/log_value.ts";
import { talk, virtualSetup, withoutTimestamp, type Running } from "../standalone/harness.ts";
import { MODES, startMode } from "./modes.ts";

const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

test.each(MODES)("%s: a temporary failure names the chain's checkpassword as the chain gives it", async (mode) => {
  const setup = virtualSetup(["Subject: one\n\nfirst\n"]);
  const server = await startMode(mode, { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0" });
  servers.push(server);
  // serve checked the database at its start; it goes away afterwards.
  rmSync(setup.userdb);
  const out = withoutTimestamp(await talk(server.port, "USER joe\r\nPASS secret\r\nQUIT\r\n"));
  expect(out).toBe("+OK \r\n+OK \r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n+OK \r\n");
  const why = logValue(`${POPPIN} checkpassword exit 111`);
  for (const deadline = Date.now() + 5_000; !server.log().includes("temporary failure") && Date.now() < deadline;) await Bun.sleep(20);
  expect(server.log()).toContain(`popup: warning: authorization temporary failure rip=127.0.0.1 user=joe mech=USER why=${why}\n`);
});

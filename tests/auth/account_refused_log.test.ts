/**
 * A right password refused by a policy (here a virtual user's home outside POPPIN_HOME_BASE;
 * the same for a uid below POPPIN_MIN_UID or an expired account) answers and costs what a
 * wrong password does, but the log says why in one line, the same in every host: checkpassword
 * as a process, popup's one-process login, and serve --inline. A wrong password gets no such line.
 */
import { expect, test } from "bun:test";
import * as net from "node:net";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, run, startPortServer, tempDir, until } from "../helpers.ts";

const dir = tempDir("account-refused");
const users = join(dir, "users");
const home = join(dir, "home", "joe");
mkdirSync(home, { recursive: true });
expect(run([POPPIN, "users", "-f", users, "add", "--sha512", "joe", "0", "0", home], { stdin: "right\nright\n" }).code).toBe(0);
const LINE = `checkpassword: warning: account refused user=joe rip=192.0.2.7 why=home%20${encodeURIComponent(home).replaceAll("%2F", "/")}%20is%20outside%20POPPIN_HOME_BASE%20/srv/vmail\n`;
const env = { PATH: process.env.PATH, POPPIN_USERDB: `${users}.cdb`, POPPIN_HOME_BASE: "/srv/vmail", POPPIN_MIN_UID: "0", TCPREMOTEIP: "192.0.2.7", POPPIN_AUTH_FAILURE_DELAY: "0" };

test("checkpassword and popup (one process or three): the reason in one line; a wrong password: none", () => {
  // fd 3 from stdin, as the classic test of a checkpassword: checkpassword true 3<&0.
  const viaSh = run(["/bin/sh", "-c", `exec ${applet("checkpassword")} true 3<&0`], { stdin: "joe\0right\0\0", env });
  expect([viaSh.code, viaSh.stderr]).toEqual([1, LINE]);
  const wrong = run(["/bin/sh", "-c", `exec ${applet("checkpassword")} true 3<&0`], { stdin: "joe\0wrong\0\0", env });
  expect([wrong.code, wrong.stderr]).toEqual([1, ""]);
  for (const oneProcess of ["1", "0"]) {
    const r = run([applet("qmail-popup"), "h", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"], { stdin: "USER joe\r\nPASS right\r\nQUIT\r\n", env: { ...env, POPPIN_ONE_PROCESS: oneProcess } });
    expect(r.out).toContain("-ERR [AUTH] authorization failed\r\n");
    expect(r.stderr).toBe(`${LINE}qmail-popup: warning: authorization failed rip=192.0.2.7 user=joe mech=USER\n`);
  }
});

test("serve --inline: the same line", async () => {
  const server = await startPortServer([applet("tcpserver"), "--inline", "-1", "-HR", "127.0.0.1", "0", "qmail-popup", "h", "checkpassword", "qmail-pop3d", "Maildir"], { env: { ...env, TCPREMOTEIP: undefined, PATH: `${join(applet("tcpserver"), "..")}:${process.env.PATH}` } });
  try {
    await new Promise<void>((resolve) => {
      const s = net.connect(server.port, "127.0.0.1", () => s.write("USER joe\r\nPASS right\r\nQUIT\r\n"));
      s.on("data", () => {});
      s.on("close", () => resolve());
      s.on("error", () => resolve());
    });
    await until("the lines", () => server.log().includes("authorization failed"));
    expect(server.log()).toContain(LINE.replace("192.0.2.7", "127.0.0.1"));
  } finally {
    await server.stop();
  }
});

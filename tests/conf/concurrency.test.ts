/**
 * A typo in env/CONCURRENCY (conf's run script passes it as -c): tcpserver reads "-c abc" or
 * "-c 0" as a limit of 0 and then serves no one and says nothing (serve spun a core doing
 * so). serve refuses it at start, in the log, with the value, under either name. Likewise a
 * port over 65535 (env/PORT=99999), which tcpserver cuts to 16 bits and listens elsewhere.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, run, tempDir } from "../helpers.ts";
import { freePort } from "./pop3_client.ts";

test("-c that is not a positive number: exit 100 naming the value, as poppin serve and as tcpserver", async () => {
  const port = String(await freePort());
  for (const [value, read] of [["abc", "read it as 0 and serve no one"], ["0", "read it as 0 and serve no one"], ["12x", "read it as 12 and allow 12"]] as const) {
    const r = run([POPPIN, "serve", "-c", value, "127.0.0.1", port, "/bin/true"], { timeoutMs: 5000 });
    expect(r.code).toBe(100);
    expect(r.stderr.split("\n")[0]).toBe(`poppin serve: fatal: -c takes the number of simultaneous connections, 1 or more, not '${value}' (tcpserver would ${read})`);
  }
  const classic = run([applet("tcpserver"), "-vc0", "127.0.0.1", port, "/bin/true"], { timeoutMs: 5000 });
  expect(classic.code).toBe(100);
  expect(classic.stderr).toStartWith("tcpserver: fatal: -c takes the number of simultaneous connections, 1 or more, not '0'");
});

test("conf's run script with env/CONCURRENCY=abc stops with the reason in its output (the log)", () => {
  const dir = join(tempDir("concurrency"), "pop3d");
  expect(run([POPPIN, "conf", "pop3d", "--port", "1", applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
  writeFileSync(join(dir, "env", "CONCURRENCY"), "abc\n");
  const r = run(["./run"], { cwd: dir, timeoutMs: 5000 });
  expect(r.code).toBe(100);
  expect(r.out).toContain("poppin serve: fatal: -c takes the number of simultaneous connections, 1 or more, not 'abc'");
});

test("a port over 65535: refused naming it and where tcpserver would have listened, in both modes", () => {
  for (const inline of [false, true]) {
    const chain = inline ? [applet("qmail-popup"), "h", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"] : ["/bin/true"];
    const r = run([POPPIN, "serve", ...(inline ? ["--inline"] : []), "127.0.0.1", "99999", ...chain], { timeoutMs: 5000 });
    expect(r.code).toBe(111);
    expect(r.stderr).toBe("poppin serve: fatal: port 99999 is out of range (0 to 65535; tcpserver would listen on 34463)\n");
  }
});

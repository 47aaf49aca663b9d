/**
 * `-x /etc/tcp.pop3` where `/etc/tcp.pop3.cdb` was meant (and `tcprulescheck tcp.pop3`): the
 * rules' text read as a cdb. Debian's tools say only "protocol error"; ours say the same words,
 * with the same exit code and the same dropped connection, then what the file is.
 */
import { expect, test } from "bun:test";
import * as net from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, startPortServer, tempDir, until } from "../helpers.ts";

const dir = tempDir("rulestext");
const text = join(dir, "tcp.pop3");
writeFileSync(text, "# the rules\n127.0.0.1:allow\n:deny\n");
const HINT = " (it holds rules text, not a cdb: give the .cdb that tcprules makes from it)";

test("tcprulescheck on the rules' text: Debian's line, then what the file is; another non-cdb gets no hint", () => {
  const env = { TCPREMOTEIP: "127.0.0.1" };
  const debian = run([requireTool("tcprulescheck"), text], { env });
  const ours = run([applet("tcprulescheck"), text], { env });
  expect(debian.stderr).toBe(`tcprulescheck: fatal: unable to read ${text}: protocol error\n`);
  expect([ours.code, ours.stderr]).toEqual([debian.code, `${debian.stderr.trimEnd()}${HINT}\n`]);
  const other = join(dir, "binary");
  writeFileSync(other, Buffer.from("\x00\x01garbage:allow\n"));
  expect(run([applet("tcprulescheck"), other], { env }).stderr).toBe(run([requireTool("tcprulescheck"), other], { env }).stderr);
});

test("tcpserver -x on the rules' text: the connection dropped as Debian drops it, the warning says why", async () => {
  const logs: string[] = [];
  for (const bin of [requireTool("tcpserver"), applet("tcpserver")]) {
    const server = await startPortServer([bin, "-1", "-v", "-HR", "-l", "h", "-x", text, "127.0.0.1", "0", "echo", "hi"]);
    const got = await new Promise<string>((resolve) => {
      let data = "";
      const s = net.connect(server.port, "127.0.0.1");
      s.on("data", (d) => { data += d.toString(); });
      s.on("close", () => resolve(data));
      s.on("error", () => resolve(data));
    });
    expect(got).toBe("");
    await until("the warning", () => server.log().includes("dropping connection"));
    logs.push(server.log().split("\n").find((l) => l.includes("dropping connection"))!);
    await server.stop();
  }
  expect(logs[0]).toBe(`tcpserver: warning: dropping connection, unable to read ${text}: protocol error`);
  expect(logs[1]).toBe(`${logs[0]}${HINT}`);
});

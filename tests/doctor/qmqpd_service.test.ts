/**
 * doctor --service on a QMQP service made as the README says (`./add-client 192.0.2.25 &&
 * make`): its rules need not let 127.0.0.1 in (doctor opens no POP3 session there), so the
 * rules check passes instead of telling the administrator to open the port to loopback; a
 * POP3 service with the same rules still gets that failure.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { applet, POPPIN, run, tempDir } from "../helpers.ts";

function rulesLine(dir: string): string | undefined {
  const r = run([POPPIN, "doctor", "--service", dir], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 30_000 });
  return Buffer.from(r.stdout).toString("utf8").split("\n").find((line) => / rules-allow: /.test(line));
}

test("a QMQP service's rules without 127.0.0.1 pass; a POP3 service's do not", () => {
  const work = tempDir("doctor-qmqpd");
  const qmqpd = join(work, "qmqpd");
  expect(run([POPPIN, "conf", "qmqpd", "--port", "1", "nobody", "nobody", qmqpd]).code).toBe(0);
  expect(run(["/bin/sh", "-c", "./add-client 192.0.2.25 && make"], { cwd: qmqpd }).code).toBe(0);
  expect(rulesLine(qmqpd)).toBe(`✓ rules-allow: ${join(qmqpd, "tcp.cdb")} reads (a QMQP service needs no rule for 127.0.0.1).`);
  const pop3d = join(work, "pop3d");
  expect(run([POPPIN, "conf", "pop3d", "--port", "1", applet("checkpassword"), "nobody", pop3d]).code).toBe(0);
  expect(run(["/bin/sh", "-c", "./add-client 192.0.2.25 && make"], { cwd: pop3d }).code).toBe(0);
  expect(rulesLine(pop3d)).toStartWith(`✗ rules-allow: ${join(pop3d, "tcp.cdb")} denies 127.0.0.1`);
});

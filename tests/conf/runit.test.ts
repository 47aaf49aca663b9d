/**
 * A service directory made by conf runs under runit as it is (runsv runs ./run and ./log/run
 * the way supervise does): sv status shows both up, a POP3 client is served after add-client
 * and make, log/main fills with tcpserver lines, `sv alarm DIR/log` rotates current, and
 * doctor --service finds nothing wrong (runsv's supervise/status is one svstat reads).
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, tempDir, until } from "../helpers.ts";
import { makeService, oneLoggedSession } from "./supervised.ts";

const work = tempDir("conf-runit");
chmodSync(work, 0o755);
const service = join(work, "pop3d");
let runsv: ChildProcess | undefined;

afterAll(async () => {
  const sv = requireTool("sv");
  run([sv, "-w", "5", "down", service, join(service, "log")]);
  runsv?.kill("SIGTERM");
  await Bun.sleep(300);
  runsv?.kill("SIGKILL");
});

test("conf's directory under runsv: served, logged, sv alarm rotates, doctor content", async () => {
  const sv = requireTool("sv");
  const port = await makeService(service);
  runsv = spawn(requireTool("runsv"), [service], { stdio: "ignore" });
  const status = () => run([sv, "status", service]).out;
  await until("sv status up", () => /^run: .*\(pid \d+\) \d+s; run: log: \(pid \d+\)/.test(status()));
  const main = await oneLoggedSession(service, port);
  await until("the ok line", () => /tcpserver: ok \d+ 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+/.test(readFileSync(join(main, "current"), "latin1")));
  const tai = run([requireTool("tai64nlocal")], { stdin: readFileSync(join(main, "current")) });
  expect(tai.out).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ tcpserver: status: 0\/40\n/);

  expect(run([sv, "alarm", join(service, "log")]).code).toBe(0);
  await until("a rotated file", () => readdirSync(main).some((f) => /^@[0-9a-f]{24}\.s$/.test(f)));

  const doctor = run([POPPIN, "doctor", "--service", service], { timeoutMs: 30_000 });
  const failed = Buffer.from(doctor.stdout).toString("utf8").split("\n").filter((l) => l.startsWith("✗"));
  expect(failed).toEqual([]);
  expect(doctor.code).toBe(0);
}, 60_000);

/**
 * A service directory made by conf under s6 (s6-svscan on a scan directory holding a link to
 * it): served, logged through log/run, `s6-svc -a DIR/log` rotates current, and doctor
 * --service reads s6-svstat where svstat cannot read s6-supervise's status (it reported the
 * service and its logger down: "unable to open supervise/ok").
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, tempDir, until } from "../helpers.ts";
import { makeService, oneLoggedSession } from "./supervised.ts";

const work = tempDir("conf-s6");
chmodSync(work, 0o755);
const service = join(work, "pop3d");
const scan = join(work, "scan");
let svscan: ChildProcess | undefined;

afterAll(async () => {
  run([requireTool("s6-svscanctl"), "-t", scan]);
  await Bun.sleep(500);
  svscan?.kill("SIGKILL");
});

function doctor(): { code: number; lines: string[] } {
  const r = run([POPPIN, "doctor", "--service", service], { timeoutMs: 30_000 });
  return { code: r.code, lines: Buffer.from(r.stdout).toString("utf8").split("\n").filter(Boolean) };
}

test("conf's directory under s6-svscan: served, logged, rotated; doctor reads s6-svstat", async () => {
  const s6svstat = requireTool("s6-svstat");
  const port = await makeService(service);
  mkdirSync(scan);
  symlinkSync(service, join(scan, "pop3d"));
  svscan = spawn(requireTool("s6-svscan"), [scan], { stdio: "ignore" });
  await until("s6-svstat up", () => /^up \(pid \d+\) [1-9]/.test(run([s6svstat, service]).out) && /^up /.test(run([s6svstat, join(service, "log")]).out));
  const main = await oneLoggedSession(service, port);
  await until("the end line", () => /tcpserver: end \d+ status 0/.test(readFileSync(join(main, "current"), "latin1")));
  expect(run([requireTool("s6-svc"), "-a", join(service, "log")]).code).toBe(0);
  await until("a rotated file", () => readdirSync(main).some((f) => /^@[0-9a-f]{24}\.s$/.test(f)));

  const up = doctor();
  expect(up.lines.filter((l) => l.startsWith("✗"))).toEqual([]);
  expect(up.lines).toContainEqual(expect.stringMatching(new RegExp(`^✓ supervisor: svstat: ${service} up \\(pid \\d+\\) \\d+ seconds\\.$`)));
  expect(up.lines).toContainEqual(expect.stringMatching(/^✓ logger: the logger \(pid \d+\) stays up\.$/));
  expect(up.code).toBe(0);

  expect(run([requireTool("s6-svc"), "-d", service]).code).toBe(0);
  await until("down", () => /^down /.test(run([s6svstat, service]).out));
  expect(doctor().lines).toContainEqual(expect.stringMatching(new RegExp(`^✗ supervisor: svstat: down \\d+ seconds, normally up\\. Fix: `)));
}, 60_000);

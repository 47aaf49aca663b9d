/**
 * The pieces of serve's watch for stopped session processes (mod/serve/stopped_sessions.ts):
 * the limits it derives from the session timeout, the processes it finds below serve, and
 * /proc/PID/stat read right when a process's name is built to mislead a naive parser (a
 * user names their program `x) T (y` so that its state would read as "stopped").
 */
import { afterAll, expect, test } from "bun:test";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { descendants, killIfStillStopped, processState, stoppedSessionLimits } from "../../mod/serve/stopped_sessions.ts";

const procs: { kill(): void }[] = [];
afterAll(() => {
  for (const p of procs) p.kill();
});

test("limits: the session timeout plus the watchdog's grace, looked at every half of it, between 1 and 30 s", () => {
  expect(stoppedSessionLimits(1_200_000, 10)).toEqual({ limitMs: 1_210_000, intervalMs: 30_000 });
  expect(stoppedSessionLimits(2_000, 10)).toEqual({ limitMs: 12_000, intervalMs: 6_000 });
  expect(stoppedSessionLimits(0, 1)).toEqual({ limitMs: 1_000, intervalMs: 1_000 });
});

test("descendants: a child and its own child are found, and below the child only its own", async () => {
  const child = Bun.spawn(["sh", "-c", "sleep 30 & wait"]);
  procs.push(child);
  let below: number[] = [];
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await Bun.sleep(20)) {
    below = descendants(process.pid);
    if (below.includes(child.pid) && below.some((p) => processState(p)?.ppid === child.pid)) break;
  }
  expect(below).toContain(child.pid);
  const grandchild = below.find((p) => processState(p)?.ppid === child.pid);
  expect(grandchild).toBeDefined();
  expect(descendants(child.pid)).toEqual([grandchild!]);
  expect(descendants(grandchild!)).toEqual([]);
  // The way taken where the kernel has no children files finds the same.
  expect(descendants(child.pid, true)).toEqual([grandchild!]);
  expect(descendants(process.pid, true)).toContain(grandchild!);
});

test("processState: a name with ') T (' in it does not read as stopped; a real stop does", async () => {
  const dir = tempDir("stopped-names");
  const sneaky = join(dir, "x) T (y");
  symlinkSync("/bin/sleep", sneaky);
  const p = Bun.spawn([sneaky, "30"]);
  procs.push(p);
  await Bun.sleep(100);
  const running = processState(p.pid);
  expect(running?.ppid).toBe(process.pid);
  expect(running?.state).toBe("S");
  process.kill(p.pid, "SIGSTOP");
  for (const deadline = Date.now() + 5_000; processState(p.pid)?.state !== "T" && Date.now() < deadline;) await Bun.sleep(20);
  expect(processState(p.pid)?.state).toBe("T");
  expect(processState(p.pid)?.start).toMatch(/^\d+$/);
  process.kill(p.pid, "SIGCONT");
  p.kill();
  await p.exited;
  expect(processState(p.pid)).toBeUndefined();
});

test("the kill reaches only the process seen stopped: not a running one, not one started at another time", async () => {
  const p = Bun.spawn(["sleep", "30"]);
  procs.push(p);
  for (const deadline = Date.now() + 5_000; processState(p.pid)?.state !== "S" && Date.now() < deadline;) await Bun.sleep(20);
  const start = processState(p.pid)!.start;
  expect(killIfStillStopped(p.pid, start)).toBe(false); // running
  process.kill(p.pid, "SIGSTOP");
  for (const deadline = Date.now() + 5_000; processState(p.pid)?.state !== "T" && Date.now() < deadline;) await Bun.sleep(20);
  // A pid whose process is not the one seen (another start time: the number was taken again).
  expect(killIfStillStopped(p.pid, String(Number(start) + 1))).toBe(false);
  expect(processState(p.pid)?.state).toBe("T");
  expect(killIfStillStopped(p.pid, start)).toBe(true);
  expect(await p.exited).toBe(137);
  expect(p.signalCode).toBe("SIGKILL");
});

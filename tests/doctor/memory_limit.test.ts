/**
 * doctor --service on a run script that keeps a qmail-era memory limit before serve
 * (`softlimit -m 2000000`, here inside conf's `sh -c '...'`), or a systemd unit with a small
 * LimitAS=: serve dies at start without a log line, so doctor names the limit. A limit large
 * enough passes; a service without one gets no memory-limit line at all.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, run, tempDir } from "../helpers.ts";
import { memoryLimitsBeforeServe, shellWords, unitMemoryLimits } from "../../mod/conf/service_command.ts";

const work = tempDir("doctor-memlimit");

function memoryLine(dir: string): string | undefined {
  const r = run([POPPIN, "doctor", "--service", dir], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 30_000 });
  return Buffer.from(r.stdout).toString("utf8").split("\n").find((line) => / memory-limit: /.test(line));
}

function pop3d(name: string, args: string[] = []): string {
  const dir = join(work, name);
  expect(run([POPPIN, "conf", ...args, "pop3d", "--port", "1", applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
  return dir;
}

test("softlimit -m 2000000 before serve in run: a failure naming it; -m 4000000000 passes; none: no line", () => {
  const small = pop3d("small");
  const run_ = join(small, "run");
  writeFileSync(run_, readFileSync(run_, "utf8").replace(/exec (\S+) serve/, "exec softlimit -m 2000000 $1 serve"));
  expect(readFileSync(run_, "utf8")).toContain("softlimit -m 2000000");
  expect(memoryLine(small)).toBe(`✗ memory-limit: ${run_} starts serve under softlimit -m 2000000: poppin's runtime needs a data and address-space limit of at least 3000000000 bytes and dies at start below it, before it can log why. Fix: remove softlimit -m 2000000 (or raise it to at least 3000000000), then restart the service (svc -t ${small}, or systemctl daemon-reload and restart).`);

  const large = pop3d("large");
  writeFileSync(join(large, "run"), readFileSync(join(large, "run"), "utf8").replace(/exec (\S+) serve/, "exec /usr/bin/softlimit -o 400 -m4000000000 $1 serve"));
  expect(memoryLine(large)).toBe(`✓ memory-limit: ${join(large, "run")} limits serve to softlimit -m 4000000000, enough for poppin.`);

  expect(memoryLine(pop3d("none"))).toBeUndefined();
});

test("a systemd unit's LimitAS=1G: a failure naming it", () => {
  const dir = pop3d("unit", ["--systemd"]);
  const unit = readdirSync(dir).find((f) => f.endsWith(".service"))!;
  writeFileSync(join(dir, unit), readFileSync(join(dir, unit), "utf8").replace("[Service]\n", "[Service]\nLimitAS=1G\n"));
  expect(memoryLine(dir)).toStartWith(`✗ memory-limit: ${join(dir, unit)} starts serve under LimitAS=1G: `);
});

test("the run script's words: limits before serve only, bundled and separate values", () => {
  const env = {};
  expect(memoryLimitsBeforeServe(shellWords("softlimit -d 300 -a5 envdir ./env tcpserver -c 5 0 110 softlimit -m 1 x", env), env)).toEqual([
    { option: "softlimit -d 300", bytes: 300n }, { option: "softlimit -a 5", bytes: 5n },
  ]);
  expect(memoryLimitsBeforeServe(shellWords("envdir ./env sh -c 'exec softlimit -m 2000000 poppin serve 0 110 x'", env), env)).toEqual([{ option: "softlimit -m 2000000", bytes: 2000000n }]);
  // qmail-conf's form: the value from env/DATALIMIT, with its default.
  expect(memoryLimitsBeforeServe(shellWords(`envuidgid qmaild softlimit -d"\${DATALIMIT-3000000}" tcpserver -v 0 110 x`, {}), {})).toEqual([{ option: "softlimit -d 3000000", bytes: 3000000n }]);
  expect(memoryLimitsBeforeServe(shellWords(`softlimit \${DATALIMIT+"-d$DATALIMIT"} tcpserver 0 110 x`, {}), {})).toEqual([]);
    expect(unitMemoryLimits("[Service]\nLimitDATA=2048M\nLimitAS=infinity\n")).toEqual([{ option: "LimitDATA=2048M", bytes: 2048n * 1024n * 1024n }]);
});

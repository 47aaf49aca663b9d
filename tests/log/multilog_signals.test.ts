/**
 * Signals and abrupt ends, for Debian's multilog and ours alike: TERM mid-stream (a
 * second logger takes over the same pipe, as supervise arranges: every line ends up on
 * disk exactly once), a writer dying mid-line, ALRM rotating at once, and kill -9
 * leaving a readable current that the next start files as a .u.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { debianMultilog, ourMultilog } from "./harness.ts";

const base = tempDir("mlsig");
const WRITER = join(import.meta.dir, "writer.py");
const IMPLEMENTATIONS: Array<[string, () => string]> = [["debian", debianMultilog], ["ours", ourMultilog]];

/** Every line kept in a log directory, oldest first, labels stripped. */
function loggedLines(dir: string): string[] {
  const names = readdirSync(dir).filter((n) => n.startsWith("@")).sort();
  const text = [...names, "current"].map((n) => readFileSync(join(dir, n), "latin1")).join("");
  return text.split("\n").slice(0, -1).map((l) => l.replace(/^@[0-9a-f]{24} /, ""));
}

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe.each(IMPLEMENTATIONS)("multilog signals (%s)", (label, bin) => {
  test("TERM mid-stream: the logger finishes its line and exits 0; the next one on the same pipe loses nothing", () => {
    const dir = join(base, `term-${label}`);
    mkdirSync(dir);
    const count = 20000;
    // The first logger gets the pipe through fd 3 (a background job's stdin would be /dev/null).
    const shell = `python3 "$WRITER" ${count} 1.5 7 | {
      "$LOG" t n100 ./d <&3 & pid=$!
      i=0; while [ ! -s d/current ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
      sleep 0.1; kill -TERM $pid; wait $pid; echo "first=$?" >&2
      cat d/@* d/current 2>/dev/null | wc -l >&2
      exec "$LOG" t n100 ./d
    } 3<&0`;
    const r = Bun.spawnSync(["sh", "-c", shell], { cwd: dir, env: { ...process.env, WRITER, LOG: bin() }, stderr: "pipe", timeout: 30_000 });
    expect(r.exitCode).toBe(0);
    const [first, written] = r.stderr.toString().trim().split("\n");
    expect(first).toBe("first=0");
    expect(Number(written)).toBeGreaterThan(0);
    expect(Number(written)).toBeLessThan(count); // the first logger really stopped mid-stream
    const lines = loggedLines(join(dir, "d"));
    expect(lines.length).toBe(count);
    lines.forEach((line, i) => {
      if (!line.startsWith(`line ${String(i).padStart(6, "0")} `)) throw new Error(`line ${i} is ${JSON.stringify(line)}`);
    });
  });

  test("a writer that dies mid-line: the partial line is kept with a newline, exit 0", () => {
    const dir = join(base, `died-${label}`);
    mkdirSync(dir);
    const r = Bun.spawnSync(["sh", "-c", `sh -c 'printf "one\\ntw"; kill -9 $$' | "$LOG" ./d`], { cwd: dir, env: { ...process.env, LOG: bin() }, timeout: 10_000 });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(dir, "d", "current"), "latin1")).toBe("one\ntw\n");
    expect(statSync(join(dir, "d", "current")).mode & 0o777).toBe(0o744);
  });

  test("ALRM rotates current at once; end of input exits 0", async () => {
    const dir = join(base, `alrm-${label}`);
    mkdirSync(dir);
    const proc = Bun.spawn([bin(), "./d"], { cwd: dir, stdin: "pipe", stderr: "pipe" });
    proc.stdin.write("before alarm\n");
    proc.stdin.flush();
    await waitFor("first line", () => existsSync(join(dir, "d", "current")) && readFileSync(join(dir, "d", "current"), "latin1") === "before alarm\n");
    proc.kill("SIGALRM");
    await waitFor("rotation", () => readdirSync(join(dir, "d")).some((n) => n.endsWith(".s")));
    const rotated = readdirSync(join(dir, "d")).filter((n) => n.endsWith(".s"));
    expect(rotated.length).toBe(1);
    expect(rotated[0]).toMatch(/^@4000[0-9a-f]{20}\.s$/);
    expect(readFileSync(join(dir, "d", rotated[0]), "latin1")).toBe("before alarm\n");
    expect(statSync(join(dir, "d", rotated[0])).mode & 0o777).toBe(0o744);
    proc.stdin.write("after alarm\n");
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
    expect(readFileSync(join(dir, "d", "current"), "latin1")).toBe("after alarm\n");
  });

  test("kill -9 leaves a readable current; the next start files it as a .u and carries on", async () => {
    const dir = join(base, `kill-${label}`);
    mkdirSync(dir);
    const proc = Bun.spawn([bin(), "./d"], { cwd: dir, stdin: "pipe", stderr: "pipe" });
    proc.stdin.write("kept 1\nkept 2\n");
    proc.stdin.flush();
    await waitFor("lines on disk", () => existsSync(join(dir, "d", "current")) && readFileSync(join(dir, "d", "current"), "latin1") === "kept 1\nkept 2\n");
    proc.kill("SIGKILL");
    await proc.exited;
    expect(statSync(join(dir, "d", "current")).mode & 0o777).toBe(0o644); // not marked complete
    const again = Bun.spawnSync([bin(), "./d"], { cwd: dir, stdin: Buffer.from("new\n"), timeout: 10_000 });
    expect(again.exitCode).toBe(0);
    const unclean = readdirSync(join(dir, "d")).filter((n) => n.endsWith(".u"));
    expect(unclean.length).toBe(1);
    expect(readFileSync(join(dir, "d", unclean[0]), "latin1")).toBe("kept 1\nkept 2\n");
    expect(readFileSync(join(dir, "d", "current"), "latin1")).toBe("new\n");
  });
});

describe("multilog e with its stderr pipe gone (a deliberate difference)", () => {
  // The reader of stderr exits at once; 5 lines follow, 0.2 s apart, each copied to stderr by e.
  const shell = `python3 -c 'import time
for i in range(5): print("line", i, flush=True); time.sleep(0.2)' | { "$LOG" e ./d 2>&1; echo "rc=$?" >&3; } 3>&2 | head -c 1 > /dev/null`;
  const runWith = (label: string, bin: string) => {
    const dir = join(base, `epipe-${label}`);
    mkdirSync(dir);
    const r = Bun.spawnSync(["bash", "-c", shell], { cwd: dir, env: { ...process.env, LOG: bin }, stderr: "pipe", timeout: 30_000 });
    const rc = r.stderr.toString().split("\n").find((l) => l.startsWith("rc=")); // python reports its own broken pipe
    return { rc, lines: readFileSync(join(dir, "d", "current"), "latin1").split("\n").length - 1 };
  };

  test("Debian's multilog dies of SIGPIPE; ours keeps every line in the directory and exits 0", () => {
    const theirs = runWith("debian", debianMultilog());
    expect(theirs.rc).toBe("rc=141");
    expect(theirs.lines).toBeLessThan(5);
    expect(runWith("ours", ourMultilog())).toEqual({ rc: "rc=0", lines: 5 });
  });
});

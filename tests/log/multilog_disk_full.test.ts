/**
 * A full disk (a small tmpfs; the tests run as root): multilog pauses with
 * "unable to write to DIR/current, pausing: out of disk space" and retries every
 * 5 seconds; once space is freed it resumes and no line is lost. Debian's and ours run
 * side by side on two file systems and must behave the same.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fillFileSystem, smallFileSystems } from "../small_fs.ts";
import { debianMultilog, ourMultilog } from "./harness.ts";

const fileSystems = smallFileSystems("mlfull");
afterAll(fileSystems.cleanup);
const smallFs = (name: string): string => fileSystems.mount(name);
const fill = fillFileSystem;

/** Every byte kept in a log directory, oldest file first. */
function logged(dir: string): string {
  const names = readdirSync(dir).filter((n) => n.startsWith("@")).sort();
  return [...names, "current"].map((n) => readFileSync(join(dir, n), "latin1")).join("");
}

async function readUntil(stream: ReadableStream<Uint8Array>, text: string, ms: number): Promise<string> {
  const reader = stream.getReader();
  let seen = "";
  const deadline = Date.now() + ms;
  try {
    while (!seen.includes(text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${text}" on stderr in ${ms} ms; saw ${JSON.stringify(seen)}`);
      const next = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
      if (next === null) continue;
      if (next.done) break;
      seen += Buffer.from(next.value).toString("latin1");
    }
  } finally {
    reader.releaseLock();
  }
  return seen;
}

describe("multilog on a full disk", () => {
  test("pauses with multilog's warning, resumes when space is freed, loses nothing (Debian and ours)", async () => {
    const lines = Array.from({ length: 4000 }, (_, i) => `line ${i} ${"y".repeat(i % 50)}\n`).join("");
    const runs = [["debian", debianMultilog()], ["ours", ourMultilog()]].map(([label, bin]) => {
      const fs = smallFs(label);
      mkdirSync(join(fs, "d"));
      writeFileSync(join(fs, "d", "current"), "", { mode: 0o744 }); // created while there is room
      const filler = fill(fs);
      const proc = Bun.spawn([bin, "./d"], { cwd: fs, stdin: "pipe", stderr: "pipe" });
      proc.stdin.write(lines);
      proc.stdin.end();
      return { label, fs, filler, proc };
    });
    for (const run of runs) {
      const seen = await readUntil(run.proc.stderr, "\n", 10_000);
      expect(seen).toBe("multilog: warning: unable to write to ./d/current, pausing: out of disk space\n");
      rmSync(run.filler);
    }
    for (const run of runs) {
      const code = await Promise.race([run.proc.exited, Bun.sleep(20_000).then(() => "timeout")]);
      expect(code).toBe(0);
      expect(logged(join(run.fs, "d"))).toBe(lines);
    }
  });
});

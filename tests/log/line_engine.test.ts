/**
 * The line engine with the directory buffers but without the disk: a fake Cyclog
 * records what would be written and where files would be cut. multilog's result
 * depends only on its 1024-byte reads, so any chunking into multiples of 1024 must
 * give the same files.
 */
import { describe, expect, test } from "bun:test";
import { DirBuffer } from "../../mod/log/dir_buffer.ts";
import type { Cyclog } from "../../mod/log/cyclog.ts";
import { LineEngine } from "../../mod/log/line_engine.ts";
import { parseScript } from "../../mod/log/script.ts";
import { corpus } from "./harness.ts";

class FakeLog {
  bytes = 0;
  files: string[] = [""];
  constructor(readonly size: number) {}
  write(data: Uint8Array, start: number, end: number): void {
    this.files[this.files.length - 1] += Buffer.from(data.subarray(start, end)).toString("latin1");
  }
  rotate(): void {
    this.files.push("");
    this.bytes = 0;
  }
}

function runEngine(args: string[], input: Buffer, chunk: number): { files: string[][]; stderr: string } {
  const script = parseScript(args);
  const logs = script.dirs.map((d) => new FakeLog(d.size));
  let stderr = "";
  const engine = new LineEngine(script, logs.map((l) => new DirBuffer(l as unknown as Cyclog)), [], (b) => { stderr += Buffer.from(b).toString("latin1"); });
  const stamp = Buffer.from("@400000000000000000000000 ");
  for (let i = 0; i < input.length; i += chunk) {
    engine.feed(input.subarray(i, i + chunk), stamp);
    engine.flush();
  }
  engine.finish();
  engine.flush();
  return { files: logs.map((l) => l.files), stderr };
}

describe("line engine", () => {
  const input = corpus(21, 700);

  test("the same files whatever multiple of 1024 bytes is read at once", () => {
    const script = ["t", "s4096", "./a", "-*x*", "e", "s5000", "./b"];
    const reference = runEngine(script, input, 1024);
    expect(reference.files[0].length).toBeGreaterThan(50);
    for (const chunk of [2048, 65536, 1 << 20]) expect(runEngine(script, input, chunk)).toEqual(reference);
  });

  test("files are cut only after a newline once within 2000 bytes of the size, or at the size itself", () => {
    const { files } = runEngine(["s4096", "./a"], input, 65536);
    for (const file of files[0].slice(0, -1)) {
      expect(file.length).toBeLessThanOrEqual(4096);
      if (file.length < 4096) {
        expect(file.endsWith("\n")).toBe(true);
        expect(file.length).toBeGreaterThanOrEqual(4096 - 2000);
      }
    }
    expect(files[0].join("")).toBe(`${input.toString("latin1")}\n`);
  });

  test("e shows at most 200 bytes of a line, then ...", () => {
    const long = Buffer.from(`${"z".repeat(300)}\nshort\n`);
    expect(runEngine(["e"], long, 1024).stderr).toBe(`${"z".repeat(200)}...\nshort\n`);
  });
});
